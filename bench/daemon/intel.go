package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// intelDaemon is Intel's mptcpd as Debian packages it: the daemon (package
// mptcpd, installed under /usr/libexec) and its plugins (mptcpd-plugins),
// of which addr_adv drives the in-kernel path manager from address events.
type intelDaemon struct {
	bin       string
	pluginDir string
}

const intelPlugin = "addr_adv"

// findIntel locates Intel's mptcpd with dpkg, installing the packages with
// apt-get when they are missing and install is set. The error says why it
// cannot be used.
func findIntel(install bool) (intelDaemon, error) {
	d, err := locateIntel()
	if err == nil || !install {
		return d, err
	}
	if _, lookErr := exec.LookPath("apt-get"); lookErr != nil {
		return d, fmt.Errorf("%w, and apt-get is not available to install it", err)
	}
	fmt.Printf("Intel's mptcpd: %v; installing the Debian packages mptcpd and mptcpd-plugins\n", err)
	if instErr := aptInstall(); instErr != nil {
		return d, fmt.Errorf("apt-get install mptcpd mptcpd-plugins: %w", instErr)
	}
	return locateIntel()
}

func locateIntel() (intelDaemon, error) {
	var d intelDaemon
	files, err := dpkgFiles("mptcpd")
	if err != nil {
		return d, err
	}
	for _, f := range files {
		if filepath.Base(f) == "mptcpd" && isExecutable(f) {
			d.bin = f
			break
		}
	}
	if d.bin == "" {
		return d, errors.New("package mptcpd is installed but ships no mptcpd executable")
	}
	plugins, err := dpkgFiles("mptcpd-plugins")
	if err != nil {
		return d, err
	}
	for _, f := range plugins {
		if filepath.Base(f) == intelPlugin+".so" {
			d.pluginDir = filepath.Dir(f)
			return d, nil
		}
	}
	return d, fmt.Errorf("package mptcpd-plugins ships no %s plugin", intelPlugin)
}

// dpkgFiles lists a package's files (`dpkg -L`).
func dpkgFiles(pkg string) ([]string, error) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		return nil, errors.New("dpkg is not available (not a Debian system)")
	}
	out, err := exec.Command("dpkg", "-L", pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("package %s is not installed", pkg)
	}
	return strings.Fields(string(out)), nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// aptInstall installs the packages, refreshing the package lists once if
// the first attempt fails (a fresh container has none). Services are not
// started by the install where policy-rc.d forbids it; the bench never
// relies on them and runs its own instance in a namespace.
func aptInstall() error {
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "-q", "mptcpd", "mptcpd-plugins")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, lastLines(string(out), 5))
		}
		return nil
	}
	if err := install(); err == nil {
		return nil
	}
	if out, err := exec.Command("apt-get", "update", "-q").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w: %s", err, lastLines(string(out), 5))
	}
	return install()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// argv runs the daemon inside the namespace with addr_adv adding a subflow
// endpoint for every address that appears. `ip netns exec` execs it, so the
// process started is the daemon itself.
func (d intelDaemon) argv(ns string) []string {
	return []string{"ip", "netns", "exec", ns, d.bin,
		"--path-manager=" + intelPlugin, "--addr-flags=subflow",
		"--plugin-dir=" + d.pluginDir, "--load-plugins=" + intelPlugin, "--log=stderr"}
}
