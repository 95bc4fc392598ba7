package catalog_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"

	"github.com/samizdat-news/samizdat/catalog"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
)

// sigName returns the key name on a signed note's last signature line.
func sigName(signed []byte) string {
	i := bytes.LastIndex(signed, []byte("\n\u2014 "))
	name, _, _ := strings.Cut(string(signed[i+len("\n\u2014 "):]), " ")
	return name
}

// TestOriginNamedSigningKey checks what FORMAT.md says of naming signing
// keys after the log's origin (C2SP tlog-checkpoint: the key name SHOULD
// match the origin): the formats allow it today without breaking what was
// signed before. A key statement may delegate a key named
// "samizdat/<publisher id>" beside keys named the old way, and two keys
// of that one name; checkpoints and mirror lists signed by any of them
// open, old stored checkpoints still open, and formats verifies the new
// ones with the origin as key name.
func TestOriginNamedSigningKey(t *testing.T) {
	p := testkeys.New(t, "keyname")
	origin := catalog.Origin(p.ID())
	named1 := testkeys.Key(t, origin, keys.RoleSigning)
	seed := sha256.Sum256([]byte("another key of the same name"))
	named2, err := keys.NewPrivateKey(origin, keys.RoleSigning, seed[:])
	if err != nil {
		t.Fatalf("a signing key named %q: %v", origin, err)
	}
	if named1.KeyHash() == named2.KeyHash() {
		t.Fatal("the two keys collide in key ID; pick another seed")
	}
	stmt := p.Sign(t, 2, []keys.Delegation{testkeys.Delegate(p.Signer), testkeys.Delegate(named1), testkeys.Delegate(named2)})
	trust2, err := keys.NewTrust(p.Root.Public(), stmt)
	if err != nil {
		t.Fatal(err)
	}
	c := bigLog(t).checkpoint(t, 9)
	c.Origin = origin
	old := mustSign(t, c, p.Signer) // signed before the rename, as stores hold it
	for _, tr := range []*keys.Trust{p.Trust, trust2} {
		if got, err := catalog.OpenCheckpoint(old, tr); err != nil || *got != *c {
			t.Errorf("old checkpoint under statement %d: %+v, %v", tr.Statement().Version, got, err)
		}
	}
	if got, err := catalog.ParseUnverified(old); err != nil || *got != *c {
		t.Errorf("old checkpoint, unverified: %+v, %v", got, err)
	}
	ml := &catalog.MirrorList{Version: 1, Time: cpTime, URLs: []string{"https://mirror.example/"}}
	for _, k := range []*keys.PrivateKey{named1, named2} {
		signed := mustSign(t, c, k)
		if name := sigName(signed); name != origin {
			t.Errorf("signature line names %q, origin is %q", name, origin)
		}
		if got, err := catalog.OpenCheckpoint(signed, trust2); err != nil || *got != *c {
			t.Errorf("checkpoint by %s: %+v, %v", k.Public(), got, err)
		}
		// A reader that has not seen the statement delegating the key
		// refuses it, as after any rotation, until it fetches it.
		if _, err := catalog.OpenCheckpoint(signed, p.Trust); err == nil {
			t.Errorf("checkpoint by %s opens under the statement that does not delegate it", k.Public())
		}
		fv, err := fnote.NewVerifier(k.Public().String())
		if err != nil {
			t.Fatal(err)
		}
		if fc, _, _, err := flog.ParseCheckpoint(signed, origin, fv); err != nil || fc.Size != uint64(c.Size) {
			t.Errorf("formats, key named as the origin: %+v, %v", fc, err)
		}
		lst, err := ml.Sign(k, p.ID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := catalog.OpenMirrorList(lst, trust2); err != nil {
			t.Errorf("mirror list by %s: %v", k.Public(), err)
		}
	}
	// Revoking one of the two same-named keys leaves the other in force.
	stmt3 := p.Sign(t, 3, []keys.Delegation{testkeys.Delegate(named2)}, named1.Public(), p.Signer.Public())
	trust3, err := keys.NewTrust(p.Root.Public(), stmt3)
	if err != nil {
		t.Fatal(err)
	}
	later := *c
	later.Time = cpTime.Add(time.Hour)
	if _, err := catalog.OpenCheckpoint(mustSign(t, &later, named1), trust3); err == nil {
		t.Error("a checkpoint by the revoked key opens")
	}
	if _, err := catalog.OpenCheckpoint(mustSign(t, &later, named2), trust3); err != nil {
		t.Errorf("a checkpoint by the same-named key in force: %v", err)
	}
}
