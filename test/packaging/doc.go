// Package packaging tests what ships: the systemd units (systemd-analyze
// verify and security), the .deb and .rpm that `make package` builds (their
// files, conffiles, conflicts and install scripts), the man pages, the bash
// completion, and the shipped /etc/mptcpd.yaml, which must change nothing on
// a host until someone edits it.
//
// The tests need dpkg-deb, systemd-analyze (package systemd), man (man-db),
// bash, make and the Go toolchain (make package fetches the pinned nfpm and
// go-md2man). The shipped-config test runs mptcpd against a network
// namespace of its own and needs root. Missing tools fail the tests rather
// than skip them.
package packaging
