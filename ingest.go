package framecast

// ingestState holds the ingest listeners and producer connections.
type ingestState struct{}

// closeIngest stops the ingest listeners and producer connections and waits
// for their goroutines.
func (s *Server) closeIngest() {}
