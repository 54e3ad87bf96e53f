// Command etcd is a minimal etcd server entry point for kanaria's local test
// cluster: it only hands its arguments to the upstream etcdmain package.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
