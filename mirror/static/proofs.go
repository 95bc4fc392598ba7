package static

import "context"

// proofs writes the index proofs of the publisher's articles at the
// checkpoint's size. (Index proofs come with the checkpoint's article
// index; until the store gives them there are none to write.)
func (e *exporter) proofs(ctx context.Context, p *pubExport) error { return nil }

// pruneProofs removes the index proofs of older sizes, once the new
// checkpoint is in place.
func (e *exporter) pruneProofs(ctx context.Context, p *pubExport) error { return nil }
