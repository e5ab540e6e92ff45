package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

// KeyPrefix starts every key the gateway issues.
const KeyPrefix = "hx_"

// NewKey returns a fresh secret key (hx_ and 40 base62 characters, 238 bits), the SHA-256 that is stored, and the
// short prefix shown in listings.
func NewKey() (secret string, hash [32]byte, prefix string) {
	secret = KeyPrefix + ledger.RandomBase62(40)
	return secret, sha256.Sum256([]byte(secret)), secret[:len(KeyPrefix)+6]
}

// Directory answers "whose key is this?" from memory: a ristretto cache of key hash -> owner in front of the
// ledger. Ristretto may drop a Set or evict an entry; that only costs a reload from SQLite, because the cache is
// never the home of anything that must not be lost. Unknown keys are cached too (briefly), so a flood of bad keys
// does not reach SQLite.
type Directory struct {
	store *ledger.Store
	cache *ristretto.Cache[uint64, *dirEntry]

	// mu orders cache fills after invalidations: a lookup that read the ledger before an invalidation must not
	// put its stale answer into the cache after it. Only misses and admin changes take it.
	mu    sync.Mutex
	epoch uint64
	names map[string]string // plan and status names, one string each (under mu)

	hitTTL, missTTL time.Duration
}

type dirEntry struct {
	hash  [32]byte // the full hash: the cache key is its first 8 bytes
	owner ledger.KeyOwner
	found bool
}

// counterPerKey is how many of ristretto's admission counters the directory keeps per key it may hold.
const counterPerKey = 4

// NewDirectory makes a directory holding up to maxKeys entries.
func NewDirectory(store *ledger.Store, maxKeys int64) (*Directory, error) {
	cache, err := ristretto.NewCache(&ristretto.Config[uint64, *dirEntry]{
		// Ristretto suggests ten admission counters a key; four keep its frequency estimates good enough to
		// choose between keys when the directory is full (it admits every key until then), and take 1.9 MB
		// rather than 4.5 MB at the default 100,000 keys: the collector lets the heap grow to twice what is
		// live, so every live megabyte costs about two of resident memory (TestDirectoryFixedMemory).
		NumCounters: maxKeys * counterPerKey,
		MaxCost:     maxKeys,
		BufferItems: 64,
		// Cost counts entries, not bytes: MaxCost is a number of keys.
		IgnoreInternalCost: true,
		KeyToHash:          func(k uint64) (uint64, uint64) { return k, 0 },
	})
	if err != nil {
		return nil, fmt.Errorf("creating key cache: %w", err)
	}
	return &Directory{store: store, cache: cache, hitTTL: 10 * time.Minute, missTTL: 30 * time.Second}, nil
}

// HashKey is the stored form of a key.
func HashKey(secret string) [32]byte {
	var buf [128]byte // keys are short: hash from the stack, not a heap copy
	if len(secret) <= len(buf) {
		return sha256.Sum256(append(buf[:0], secret...))
	}
	return sha256.Sum256([]byte(secret))
}

// Lookup returns the owner of the key with this hash; found is false for unknown or revoked keys.
func (d *Directory) Lookup(ctx context.Context, hash [32]byte) (owner ledger.KeyOwner, found bool, err error) {
	k := binary.LittleEndian.Uint64(hash[:8])
	if e, ok := d.cache.Get(k); ok && e.hash == hash {
		return e.owner, e.found, nil
	}
	d.mu.Lock()
	epoch := d.epoch
	d.mu.Unlock()
	owner, err = d.store.LookupKey(ctx, hash[:])
	found = err == nil
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return owner, false, err
	}
	ttl := d.hitTTL
	if !found {
		ttl = d.missTTL
	}
	d.mu.Lock()
	if d.epoch == epoch {
		owner = d.compact(owner)
		d.cache.SetWithTTL(k, &dirEntry{hash: hash, owner: owner, found: found}, 1, ttl)
	}
	d.mu.Unlock()
	return owner, found, nil
}

// maxNames bounds the plan and status names kept: plans are the operator's few; past that, names are not shared.
const maxNames = 1024

// compact makes a cached owner few objects: its key and tenant ids one string, its plan and status the
// directory's one copy of each name. Thousands of entries stay cached for minutes, and the collector's work
// grows with the objects alive (five an entry were three quarters of the directory's, with 10,000 tenants).
// d.mu must be held.
func (d *Directory) compact(o ledger.KeyOwner) ledger.KeyOwner {
	ids := o.KeyID + o.TenantID
	o.KeyID, o.TenantID = ids[:len(o.KeyID)], ids[len(o.KeyID):]
	o.Plan, o.Status = d.name(o.Plan), d.name(o.Status)
	return o
}

// name is the directory's copy of a plan or status name. d.mu must be held.
func (d *Directory) name(n string) string {
	if kept, ok := d.names[n]; ok {
		return kept
	}
	if d.names == nil {
		d.names = map[string]string{}
	}
	if len(d.names) < maxNames {
		d.names[n] = n
	}
	return n
}

// Invalidate drops cached answers for these key hashes, at once: a revoked key, a suspended tenant, a changed plan
// or a new key (whose hash may be cached as unknown) takes effect on the next request.
func (d *Directory) Invalidate(hashes ...[]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.epoch++
	for _, h := range hashes {
		if len(h) >= 8 {
			d.cache.Del(binary.LittleEndian.Uint64(h[:8]))
		}
	}
}

// Close releases the cache.
func (d *Directory) Close() { d.cache.Close() }

// Size is how many keys the directory holds at most.
func (d *Directory) Size() int64 { return d.cache.MaxCost() }

// Resize changes how many keys the directory holds at most, for a reload that changes key_cache_size. Keys
// past a smaller size leave the cache as new ones come in. Ristretto's admission counters cannot be resized:
// they stay as many as the first size asked for until a restart.
func (d *Directory) Resize(maxKeys int64) { d.cache.UpdateMaxCost(maxKeys) }

// keyFromRequest takes the tenant's key from Authorization: Bearer (OpenAI style) or x-api-key (Anthropic style).
func keyFromRequest(h map[string][]string) string {
	if v := h["Authorization"]; len(v) > 0 {
		if len(v[0]) > 7 && strings.EqualFold(v[0][:7], "bearer ") {
			return strings.TrimSpace(v[0][7:])
		}
	}
	if v := h["X-Api-Key"]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}
