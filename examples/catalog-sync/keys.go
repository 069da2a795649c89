package main

import "strings"

// layout holds the keys of one deployment under its prefix:
//
//	<prefix>/catalogs/<name>      a catalog (JSON), no lease
//	<prefix>/workers/<id>         a live worker and its applied revision, on its lease
//	<prefix>/coordinators/<id>    a live coordinator and its URL, on its lease; the master is the oldest
type layout struct{ prefix string }

func newLayout(prefix string) layout { return layout{strings.TrimSuffix(prefix, "/")} }

func (l layout) root() string               { return l.prefix + "/" }
func (l layout) catalogs() string           { return l.prefix + "/catalogs/" }
func (l layout) catalog(name string) string { return l.catalogs() + name }
func (l layout) workers() string            { return l.prefix + "/workers/" }
func (l layout) coordinators() string       { return l.prefix + "/coordinators/" }
