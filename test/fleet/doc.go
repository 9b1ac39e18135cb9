// Package fleet tests the ways fleets deploy mptcpd, as shipped under
// examples/: the Ansible role, the Puppet module and the Kubernetes
// manifests. Each test runs the real tool (ansible-playbook, puppet) or the
// real daemon against a throwaway network namespace and temporary paths, so
// that nothing of the host is touched.
//
// The tests need root (network namespaces) and Debian's ansible and puppet
// packages; they fail, rather than skip, when either is missing.
package fleet
