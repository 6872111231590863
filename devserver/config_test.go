package devserver

import (
	"testing"

	"go.temporal.io/server/common/dynamicconfig"
)

func TestDynamicConfigOnePartitionPerTaskQueueUnlessOverridden(t *testing.T) {
	dc := dynamicConfig(nil)
	for _, k := range []dynamicconfig.Key{dynamicconfig.MatchingNumTaskqueueReadPartitions.Key(), dynamicconfig.MatchingNumTaskqueueWritePartitions.Key()} {
		if v := dc[k]; v != 1 {
			t.Errorf("%s = %v, want 1 (one matching host)", k, v)
		}
	}
	if v := dc[dynamicconfig.ExternalPayloadsEnabled.Key()]; v != false {
		t.Errorf("external payloads = %v, want off", v)
	}
	dc = dynamicConfig(map[string]any{"matching.numTaskqueueReadPartitions": 4})
	if v := dc[dynamicconfig.MatchingNumTaskqueueReadPartitions.Key()]; v != 4 {
		t.Errorf("override: read partitions = %v, want 4", v)
	}
}

func TestVisibilityIndexesFoundInTheServersSchema(t *testing.T) {
	names, err := visibilityIndexes()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, n := range []string{"default_idx", "by_status", "by_keyword_01", "by_datetime_01"} {
		if !have[n] {
			t.Errorf("index %s not found among %d", n, len(names))
		}
	}
	for n := range keptVisibilityIndexes {
		if !have[n] {
			t.Errorf("kept index %s is not in the schema: the list is stale", n)
		}
	}
}
