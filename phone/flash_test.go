package phone

import (
	"fmt"
	"math"
	"testing"
)

func TestFlashPoolCountsDistinctSuffixes(t *testing.T) {
	p := NewFlashPool([]string{"+15550101234", "+15550201234", "+15550105678", "+15550105678"})
	if got := p.Suffixes(); got != 2 {
		t.Errorf("Suffixes() = %d, want 2 (two numbers share 1234, one is listed twice)", got)
	}
	if got := NewFlashPool(DevFlashPool()).Suffixes(); got != 10000 {
		t.Errorf("dev pool has %d distinct suffixes, want 10000", got)
	}
	if _, err := (FlashPool{}).Draw(); err == nil {
		t.Error("drawing from an empty pool did not fail")
	}
}

// TestFlashPoolDrawIsUniformOverSuffixes: a suffix shared by many numbers
// must not come up more often than a suffix with one number, or the code
// would be easier to guess than the count of suffixes says.
func TestFlashPoolDrawIsUniformOverSuffixes(t *testing.T) {
	var numbers []string
	for i := range 9 {
		numbers = append(numbers, fmt.Sprintf("+155501%02d0000", i)) // nine numbers ending 0000
	}
	numbers = append(numbers, "+15550101111", "+15550102222")
	p := NewFlashPool(numbers)
	const draws = 30000
	counts := map[string]int{}
	for range draws {
		n, err := p.Draw()
		if err != nil {
			t.Fatal(err)
		}
		counts[n[len(n)-4:]]++
	}
	// Each of the 3 suffixes is expected draws/3 = 10000 times; 5 standard
	// deviations (~408) bound a false alarm far below one in a million.
	want := float64(draws) / 3
	sd := math.Sqrt(draws * (1.0 / 3) * (2.0 / 3))
	for _, s := range []string{"0000", "1111", "2222"} {
		if d := math.Abs(float64(counts[s]) - want); d > 5*sd {
			t.Errorf("suffix %s drawn %d times in %d, want about %.0f (±%.0f): draws are not uniform over suffixes",
				s, counts[s], draws, want, 5*sd)
		}
	}
}
