package smallstacks_test

import (
	"fmt"

	"github.com/helix-agents/helix-go/internal/smallstacks"
)

func ExampleEnviron() {
	env, reexec := smallstacks.Environ([]string{"HOME=/home/helix", "GODEBUG=gctrace=1"})
	fmt.Println(env, reexec)
	// Output: [HOME=/home/helix GODEBUG=gctrace=1,adaptivestackstart=0] true
}
