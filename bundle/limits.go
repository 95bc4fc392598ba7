package bundle

// Limits bounds what Open and Build accept. Every field's zero value means
// the default given beside it; DefaultLimits holds them all. Build refuses
// anything Open with the same limits would refuse.
type Limits struct {
	// BundleSize bounds the whole encoded bundle. Default 96 MiB.
	BundleSize int64
	// ManifestSize bounds the encoded manifest. Default 256 KiB.
	ManifestSize int
	// Entries bounds the number of entries (body and images). Default
	// 512; values above 65,535, the most a manifest can list, mean 65,535.
	Entries int
	// EntrySize bounds one entry's uncompressed size. It is also the
	// largest zstd window the decoder accepts. Default 16 MiB.
	EntrySize int64
	// TotalSize bounds the sum of all entries' uncompressed sizes.
	// Default 64 MiB.
	TotalSize int64
	// DecoderMemory bounds what the zstd decoder may allocate for one
	// entry; a compressed entry larger than this is refused. Default 32 MiB.
	DecoderMemory int64
}

// DefaultLimits are the limits used when a *Limits is nil or a field is zero.
var DefaultLimits = Limits{
	BundleSize:    96 << 20,
	ManifestSize:  256 << 10,
	Entries:       512,
	EntrySize:     16 << 20,
	TotalSize:     64 << 20,
	DecoderMemory: 32 << 20,
}

// Fixed limits of the manifest's fields, see FORMAT.md.
const (
	MaxIDLen       = 128
	MaxTitleLen    = 1024
	MaxLanguageLen = 35
	MaxURLLen      = 2048
	MaxAuthors     = 32
	MaxAuthorLen   = 256
	MaxNameLen     = 255
	MaxTypeLen     = 127
	// MaxDictionarySize bounds a publisher dictionary.
	MaxDictionarySize = 1 << 20
)

// maxEntries is the most entries a manifest's 16-bit count can hold.
const maxEntries = 1<<16 - 1

func (l *Limits) withDefaults() Limits {
	var o Limits
	if l != nil {
		o = *l
	}
	d := DefaultLimits
	if o.BundleSize <= 0 {
		o.BundleSize = d.BundleSize
	}
	if o.ManifestSize <= 0 {
		o.ManifestSize = d.ManifestSize
	}
	if o.Entries <= 0 {
		o.Entries = d.Entries
	}
	o.Entries = min(o.Entries, maxEntries)
	if o.EntrySize <= 0 {
		o.EntrySize = d.EntrySize
	}
	if o.TotalSize <= 0 {
		o.TotalSize = d.TotalSize
	}
	if o.DecoderMemory <= 0 {
		o.DecoderMemory = d.DecoderMemory
	}
	return o
}
