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
	dc = dynamicConfig(map[string]any{"matching.numTaskqueueReadPartitions": 4})
	if v := dc[dynamicconfig.MatchingNumTaskqueueReadPartitions.Key()]; v != 4 {
		t.Errorf("override: read partitions = %v, want 4", v)
	}
}
