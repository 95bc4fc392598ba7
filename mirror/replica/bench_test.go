package replica

import (
	"context"
	"testing"

	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

// BenchmarkFullSync measures a full sync of 500 article bundles between two
// nodes on loopback QUIC: bundles/s is the figure to compare.
func BenchmarkFullSync(b *testing.B) {
	pub := testkeys.New(b, "pub")
	root := pub.Root.Public()
	ps := newPubStore(b, pub)
	for range 5 {
		ps.publish("a", 100)
	}
	p := newNode(b, ps.st, nil, nil)
	addr := serve(b, p)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		st := newStore(b)
		n := newNode(b, st, []*keys.PublicKey{root}, nil)
		c := dial(b, addr, nil)
		b.StartTimer()
		if err := n.SyncWith(context.Background(), c); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if !sameLog(ps.st, st, pub.ID()) {
			b.Fatal("incomplete sync")
		}
		c.Close()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "bundles/s")
}
