package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/samizdat-news/samizdat/catalog"
)

// MaxAlarms bounds the distinct alarms the store keeps for one publisher.
// Alarms come only from checkpoints that the publisher's own keys signed,
// so a flood of them needs the publisher's keys; past the bound the first
// alarms, the oldest evidence, are kept and later ones are only counted.
const MaxAlarms = 64

// maxAlarmText bounds the text fields of a kept alarm.
const maxAlarmText = 512

var bktAlarms = []byte("alarms")

// Alarm is a fork alarm: evidence that a publisher's keys signed two
// histories of its log. The store keeps alarms across restarts until the
// operator clears them.
type Alarm struct {
	Publisher string    `json:"publisher"`
	Time      time.Time `json:"time"`   // when it was first seen
	Peer      string    `json:"peer"`   // where the contradicting checkpoint came from, for people
	Reason    string    `json:"reason"` // what contradicts what, for people
	Have      []byte    `json:"have"`   // the checkpoint the store held (signed note)
	Got       []byte    `json:"got"`    // the contradicting checkpoint (signed note)
	Seen      int       `json:"seen"`   // how many times it was raised
	Order     uint64    `json:"order"`  // the order in which alarms were first kept
}

// RaiseAlarm keeps a fork alarm. An alarm with the same contradicting
// checkpoint (Got) as one kept is the same alarm: only its count grows.
// It reports whether the alarm is new. Past MaxAlarms distinct alarms for
// the publisher, a new one is not kept and RaiseAlarm reports false. It is
// safe for concurrent use.
func (s *Store) RaiseAlarm(a Alarm) (bool, error) {
	if s.readOnly {
		return false, fmt.Errorf("store: raise alarm: store is read-only")
	}
	if len(a.Got) == 0 || len(a.Got) > catalog.MaxCheckpointSize || len(a.Have) > catalog.MaxCheckpointSize {
		return false, fmt.Errorf("store: raise alarm: evidence missing or too large")
	}
	a.Peer, a.Reason = clip(a.Peer), clip(a.Reason)
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	a.Time = a.Time.UTC().Truncate(time.Second)
	key := sha256.Sum256(a.Got)
	added := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bktAlarms)
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists([]byte(a.Publisher))
		if err != nil {
			return err
		}
		if old := b.Get(key[:]); old != nil {
			var kept Alarm
			if err := json.Unmarshal(old, &kept); err != nil {
				return fmt.Errorf("damaged alarm: %w", err)
			}
			kept.Seen++
			return putAlarm(b, key[:], &kept)
		}
		if b.Stats().KeyN >= MaxAlarms {
			return nil
		}
		a.Seen, added = 1, true
		if a.Order, err = b.NextSequence(); err != nil {
			return err
		}
		return putAlarm(b, key[:], &a)
	})
	if err != nil {
		return false, fmt.Errorf("store: raise alarm: %w", err)
	}
	return added, nil
}

func putAlarm(b *bolt.Bucket, key []byte, a *Alarm) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return b.Put(key, v)
}

func clip(s string) string {
	if len(s) > maxAlarmText {
		return s[:maxAlarmText]
	}
	return s
}

// Alarms returns the alarms kept for a publisher, oldest first. It is safe
// for concurrent use.
func (s *Store) Alarms(pub string) ([]Alarm, error) {
	var out []Alarm
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bktAlarms)
		if root == nil {
			return nil
		}
		b := root.Bucket([]byte(pub))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var a Alarm
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("damaged alarm: %w", err)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: alarms: %w", err)
	}
	slices.SortFunc(out, func(x, y Alarm) int { return cmp.Compare(x.Order, y.Order) })
	return out, nil
}

// ClearAlarms forgets a publisher's alarms, once the operator has dealt
// with them. It is safe for concurrent use.
func (s *Store) ClearAlarms(pub string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bktAlarms)
		if root == nil || root.Bucket([]byte(pub)) == nil {
			return nil
		}
		return root.DeleteBucket([]byte(pub))
	})
	if err != nil {
		return fmt.Errorf("store: clear alarms: %w", err)
	}
	return nil
}
