package main

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/framecast/framecast/internal/pathname"
)

// UnmarshalYAML reads an auth entry and checks its path where the file
// says it, so that the error names the line: a path that is not canonical
// (pathname.Check) would never match the path producers and viewers use.
func (a *authFile) UnmarshalYAML(n *yaml.Node) error {
	type plain authFile
	if err := n.Decode((*plain)(a)); err != nil {
		return err
	}
	if a.Path == "*" {
		return nil
	}
	if err := pathname.Check(a.Path); err != nil {
		return fmt.Errorf(`line %d: auth: %w, or "*" for every other path`, n.Line, err)
	}
	return nil
}
