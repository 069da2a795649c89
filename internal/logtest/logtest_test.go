package logtest

import "testing"

func TestFindWithAttrs(t *testing.T) {
	var r Recorder
	log := r.Logger().With("id", "a")
	log.Info("registered", "ttl", 2)
	log.Warn("registration lost", "cause", "x")
	got := r.Find("registration lost")
	if len(got) != 1 || got[0].Attrs["id"] != "a" || got[0].Attrs["cause"] != "x" {
		t.Fatalf("Find = %+v, want one record with id=a cause=x", got)
	}
	if len(r.Find("nothing")) != 0 {
		t.Fatal("Find of an unlogged message found records")
	}
}
