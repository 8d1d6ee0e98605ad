// Package buildinfo names the build of the linger binary: its release,
// stamped at link time, for `linger version`, linger_build_info and the
// gateway's responses.
package buildinfo

// Version is the release, set at build time with
//
//	-ldflags "-X github.com/lingerhq/linger/internal/buildinfo.Version=v1.2.3"
//
// (the Makefile and the Dockerfile do). Go ignores an -X for a variable that
// does not exist, silently: TestVersionStamped builds the binary as the image
// does and checks that it reports the stamped version.
var Version = "dev"
