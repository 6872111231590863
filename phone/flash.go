package phone

import (
	"fmt"
	"slices"

	"github.com/authflow/authflow/security"
)

// MinFlashSuffixes is the fewest distinct last-4 suffixes a flash-call pool
// may have. The code of a flash call is the caller's last 4 digits, so the
// pool's distinct suffixes are the code's whole entropy: with 3 numbers an
// attacker holding the password guesses right one time in three
// (docs/security.md "Flash calls").
const MinFlashSuffixes = 1000

// FlashPool is a flash-call caller pool grouped by last-4 suffix. The zero
// value is an empty pool.
type FlashPool struct {
	suffixes []string
	numbers  map[string][]string // suffix → numbers ending with it
}

// NewFlashPool groups numbers (E.164) by their last 4 digits; duplicates
// count once.
func NewFlashPool(numbers []string) FlashPool {
	p := FlashPool{numbers: map[string][]string{}}
	for _, n := range numbers {
		if len(n) < 4 {
			continue
		}
		s := n[len(n)-4:]
		if slices.Contains(p.numbers[s], n) {
			continue
		}
		if len(p.numbers[s]) == 0 {
			p.suffixes = append(p.suffixes, s)
		}
		p.numbers[s] = append(p.numbers[s], n)
	}
	slices.Sort(p.suffixes)
	return p
}

// Suffixes is the count of distinct last-4 suffixes: the number of codes a
// flash call can carry.
func (p FlashPool) Suffixes() int { return len(p.suffixes) }

// Draw picks a caller with crypto/rand: a suffix uniformly among the
// distinct ones, then a number uniformly among those ending with it, so a
// suffix shared by many numbers is not more likely than the others.
func (p FlashPool) Draw() (string, error) {
	if len(p.suffixes) == 0 {
		return "", fmt.Errorf("the flash-call pool is empty")
	}
	s := p.suffixes[security.RandomInt(len(p.suffixes))]
	ns := p.numbers[s]
	return ns[security.RandomInt(len(ns))], nil
}

// DevFlashPool is the pool `authflow dev` shows in its outbox when no pool
// is configured: 10,000 numbers of the fictional +1 202 555 range, one per
// suffix, never dialled.
func DevFlashPool() []string {
	out := make([]string, 0, 10000)
	for i := range 10000 {
		out = append(out, fmt.Sprintf("+1202555%04d", i))
	}
	return out
}
