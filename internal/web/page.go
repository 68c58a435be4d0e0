package web

import (
	"embed"
	"net/http"
	"path"
)

// static is the page: plain HTML, CSS and JavaScript, no build step, nothing
// loaded from elsewhere.
//
//go:embed static
var static embed.FS

// contentTypes of the page's files.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// servePage serves / (index.html), /app.js and /style.css.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.URL.Path)
	if r.URL.Path == "/" {
		name = "index.html"
		if _, ok := s.visible(r); !ok {
			unauthorized(w)
			return
		}
	}
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypes[path.Ext(name)])
	h.Set("Cache-Control", "no-cache")
	// Everything the page uses comes from this server.
	h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
}
