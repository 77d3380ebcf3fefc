package smallstacks

import (
	"slices"
	"testing"
)

func TestEnviron(t *testing.T) {
	for _, tc := range []struct {
		in     []string
		want   []string
		reexec bool
	}{
		{in: []string{"PATH=/bin"}, want: []string{"PATH=/bin", "GODEBUG=adaptivestackstart=0"}, reexec: true},
		{in: []string{"GODEBUG=http2client=0", "HOME=/h"}, want: []string{"HOME=/h", "GODEBUG=http2client=0,adaptivestackstart=0"}, reexec: true},
		{in: []string{"GODEBUG=adaptivestackstart=1"}, want: []string{"GODEBUG=adaptivestackstart=1"}},
		{in: []string{"GODEBUG=gctrace=1, adaptivestackstart=0"}, want: []string{"GODEBUG=gctrace=1, adaptivestackstart=0"}},
	} {
		got, reexec := Environ(tc.in)
		if reexec != tc.reexec || !slices.Equal(got, tc.want) {
			t.Errorf("Environ(%q) = %q, %v; want %q, %v", tc.in, got, reexec, tc.want, tc.reexec)
		}
	}
}
