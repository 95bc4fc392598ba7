package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/mirror/store"
)

// TestAlarmsPersistDedupeAndBound checks the three things the node relies
// on: an alarm survives a restart, the same contradicting checkpoint seen
// again is one alarm, and a publisher's alarms are bounded.
func TestAlarmsPersistDedupeAndBound(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	pub := "0123456789abcdef0123456789abcdef"
	a := store.Alarm{Publisher: pub, Peer: "127.0.0.2:4433", Reason: "fork", Have: []byte("have\n\n— k s\n"), Got: []byte("got\n\n— k s\n"), Time: time.Unix(100, 0)}
	for i, want := range []bool{true, false, false} {
		added, err := st.RaiseAlarm(a)
		if err != nil || added != want {
			t.Fatalf("raise %d: added=%v err=%v, want added=%v", i, added, err, want)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Alarms(pub)
	if err != nil || len(got) != 1 || got[0].Seen != 3 || string(got[0].Got) != string(a.Got) || got[0].Peer != a.Peer {
		t.Fatalf("after restart: %+v, %v; want one alarm seen 3 times", got, err)
	}
	for i := range store.MaxAlarms + 10 {
		b := a
		b.Got = fmt.Appendf(nil, "got %d\n\n— k s\n", i)
		if _, err := st.RaiseAlarm(b); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := st.Alarms(pub); len(got) != store.MaxAlarms || string(got[0].Got) != string(a.Got) {
		t.Fatalf("%d alarms kept (first %q), want %d with the first kept", len(got), got[0].Got, store.MaxAlarms)
	}
	if other, _ := st.Alarms("ffffffffffffffffffffffffffffffff"); len(other) != 0 {
		t.Errorf("another publisher has %d alarms", len(other))
	}
	if _, err := st.RaiseAlarm(store.Alarm{Publisher: pub}); err == nil {
		t.Error("an alarm without evidence was kept")
	}
	if err := st.ClearAlarms(pub); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Alarms(pub); len(got) != 0 {
		t.Errorf("%d alarms after ClearAlarms", len(got))
	}
}
