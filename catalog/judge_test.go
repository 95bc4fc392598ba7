package catalog

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// TestJudge changes one thing at a time, so that each of Judge's checks
// (size, root, time) is the only one that can refuse its case: disabling
// any one of them fails a case here.
func TestJudge(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	r1, r2 := tlog.Hash{1}, tlog.Hash{2}
	x1, x2 := tlog.Hash{3}, tlog.Hash{4}
	for _, tc := range []struct {
		name    string
		noIndex bool // have carries no index
		got     Checkpoint
		want    string // "", "rollback", "fork" or "dropped"
	}{
		{"same", false, Checkpoint{Size: 10, Root: r1, Time: t0, Index: x1}, ""},
		{"larger, same time", false, Checkpoint{Size: 11, Root: r2, Time: t0, Index: x2}, ""},
		{"larger, later", false, Checkpoint{Size: 11, Root: r2, Time: t0.Add(time.Hour), Index: x2}, ""},
		{"same tree, later (heartbeat)", false, Checkpoint{Size: 10, Root: r1, Time: t0.Add(time.Hour), Index: x1}, ""},
		{"smaller, later: rollback by size alone", false, Checkpoint{Size: 9, Root: r2, Time: t0.Add(time.Hour), Index: x2}, "rollback"},
		{"same tree, earlier: rollback by time alone", false, Checkpoint{Size: 10, Root: r1, Time: t0.Add(-time.Second), Index: x1}, "rollback"},
		{"larger, earlier: rollback by time alone", false, Checkpoint{Size: 12, Root: r2, Time: t0.Add(-time.Second), Index: x2}, "rollback"},
		{"same size, other root, later: fork", false, Checkpoint{Size: 10, Root: r2, Time: t0.Add(time.Hour), Index: x2}, "fork"},
		{"same size, other root, earlier: fork", false, Checkpoint{Size: 10, Root: r2, Time: t0.Add(-time.Hour), Index: x2}, "fork"},
		{"same tree, other index: fork", false, Checkpoint{Size: 10, Root: r1, Time: t0.Add(time.Hour), Index: x2}, "fork"},
		{"same tree, no index after one", false, Checkpoint{Size: 10, Root: r1, Time: t0.Add(time.Hour)}, "dropped"},
		{"larger, no index after one", false, Checkpoint{Size: 11, Root: r2, Time: t0.Add(time.Hour)}, "dropped"},
		{"no index before, index now", true, Checkpoint{Size: 10, Root: r1, Time: t0.Add(time.Hour), Index: x1}, ""},
		{"no index before, none now", true, Checkpoint{Size: 11, Root: r2, Time: t0.Add(time.Hour)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have := &Checkpoint{Origin: Origin("p"), Size: 10, Root: r1, Time: t0, Index: x1}
			if tc.noIndex {
				have.Index = tlog.Hash{}
			}
			got := tc.got
			got.Origin = have.Origin
			err := Judge(have, &got)
			var fe *ForkError
			switch tc.want {
			case "":
				if err != nil {
					t.Fatalf("Judge = %v, want nil", err)
				}
			case "dropped":
				if !errors.Is(err, ErrIndexDropped) {
					t.Fatalf("Judge = %v, want ErrIndexDropped", err)
				}
			case "rollback":
				if !errors.Is(err, ErrRollback) || errors.As(err, &fe) {
					t.Fatalf("Judge = %v, want a rollback", err)
				}
			case "fork":
				if !errors.As(err, &fe) || errors.Is(err, ErrRollback) || fe.Size != 10 {
					t.Fatalf("Judge = %v, want a fork at size 10", err)
				}
			}
		})
	}
	if err := Judge(nil, &Checkpoint{Size: 1}); err != nil {
		t.Errorf("Judge(nil, cp) = %v, want nil", err)
	}
}

func TestParseUnverified(t *testing.T) {
	c := &Checkpoint{Origin: Origin("p"), Size: 3, Root: tlog.Hash{7}, Time: time.Unix(5, 0).UTC()}
	signed := []byte(c.Text() + "\n— key sig\n")
	got, err := ParseUnverified(signed)
	if err != nil || *got != *c {
		t.Fatalf("ParseUnverified = %+v, %v; want %+v", got, err, c)
	}
	for name, bad := range map[string][]byte{
		"no signature block": []byte(c.Text()),
		"empty":              nil,
		"text not canonical": []byte("samizdat/p\n03\n" + c.Root.String() + "\ntime 5\n\n— k s\n"),
		"too large":          append([]byte(c.Text()+"\n"), make([]byte, MaxCheckpointSize)...),
	} {
		if _, err := ParseUnverified(bad); err == nil {
			t.Errorf("%s: ParseUnverified accepted it", name)
		}
	}
}
