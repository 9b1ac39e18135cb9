// Package netstate reads a namespace's links and addresses over rtnetlink,
// as a snapshot and as a stream of change events, so the planner can tell
// which endpoints are usable and the daemon can react when that changes.
package netstate
