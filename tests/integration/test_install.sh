#!/bin/sh
# test_install.sh - `make install` into a staging directory (DESTDIR): the binary, the
# systemd unit, the sysusers.d file, the example configuration and the docs land where the
# docs say, with the paths filled in; a second install keeps an edited koban.yaml;
# `make uninstall` removes what install added and keeps the configuration; the unit passes
# `systemd-analyze verify` (skipped with a message where systemd-analyze is missing).
#
# Prints PASS/FAIL/SKIP lines for tests/run. Runs the Makefile of this checkout with the
# binary under test (KOBAN_BIN), so it builds nothing.
cd "$(dirname "$0")/../.." || exit 1
: "${KOBAN_BIN:=$PWD/koban}"
# a make started by `make check SAN=1` must not hand SAN=1 down to this one
unset MAKEFLAGS MFLAGS MAKELEVEL

tmp=$(mktemp -d /tmp/koban-install-XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0

# check NAME CONDITION...: PASS or FAIL line for one expectation
check() {
	name=$1
	shift
	if "$@"; then
		echo "PASS $name"
	else
		echo "FAIL $name: $* (output in $tmp/log)"
		cat "$tmp/log" 2>/dev/null | tail -20
		failed=1
	fi
}

has_line() { grep -qxF "$2" "$1"; }
no_placeholder() { ! grep -q '@[A-Z]*@' "$@"; }

install_to() { # DESTDIR [make args...]
	dest=$1
	shift
	make -s install DESTDIR="$dest" INSTALL_BIN="$KOBAN_BIN" "$@" >"$tmp/log" 2>&1
}

# ---- PREFIX=/usr: /usr/bin, /usr/lib/systemd/system, /etc/koban
r=$tmp/root
check install_prefix_usr install_to "$r" PREFIX=/usr
unit=$r/usr/lib/systemd/system/koban.service
check files_in_place test -x "$r/usr/bin/koban" -a -f "$unit" -a \
	-f "$r/usr/lib/sysusers.d/koban.conf" -a -f "$r/etc/koban/koban.yaml" -a \
	-f "$r/etc/koban/koban.yaml.example" -a -f "$r/usr/share/doc/koban/serve.md" -a \
	-f "$r/usr/share/doc/koban/templates/firstreport/ja.txt"
check binary_runs sh -c "'$r/usr/bin/koban' config example >/dev/null"
check no_placeholders_left no_placeholder "$unit" "$r/usr/lib/sysusers.d/koban.conf"
check unit_exec_start has_line "$unit" "ExecStart=/usr/bin/koban serve -c /etc/koban/koban.yaml"
check unit_exec_reload has_line "$unit" 'ExecReload=/bin/kill -HUP $MAINPID'
for opt in User=koban ProtectSystem=strict NoNewPrivileges=yes ProtectHome=yes \
	PrivateTmp=yes StateDirectory=koban ReadWritePaths=/var/lib/koban \
	WorkingDirectory=/var/lib/koban LimitNOFILE=65536; do
	check "unit_$opt" has_line "$unit" "$opt"
done
check sysusers_user has_line "$r/usr/lib/sysusers.d/koban.conf" \
	'u koban - "koban SOC platform" /var/lib/koban'
check config_data_dir has_line "$r/etc/koban/koban.yaml" "data_dir: /var/lib/koban"
# the installed example is a valid configuration (with a data_dir this test may write)
sed "s|^data_dir: .*|data_dir: $tmp/data|" "$r/etc/koban/koban.yaml" >"$tmp/check.yaml"
check config_valid sh -c "'$KOBAN_BIN' config check '$tmp/check.yaml' >'$tmp/log' 2>&1"

# ---- a second install keeps the operator's koban.yaml, refreshes the example
echo "# edited by the operator" >>"$r/etc/koban/koban.yaml"
check reinstall install_to "$r" PREFIX=/usr
check reinstall_keeps_config grep -q "edited by the operator" "$r/etc/koban/koban.yaml"
check reinstall_says_kept grep -q "kept .*koban.yaml" "$tmp/log"
check reinstall_fresh_example sh -c "! grep -q 'edited by the operator' '$r/etc/koban/koban.yaml.example'"

# ---- the unit passes systemd's own checks (with ExecStart pointing into the stage)
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$tmp/verify"
	sed -e "s|^ExecStart=/usr/bin/koban|ExecStart=$r/usr/bin/koban|" \
		-e "s|file:/usr/share/doc|file:$r/usr/share/doc|" "$unit" >"$tmp/verify/koban.service"
	check systemd_analyze_verify sh -c \
		"systemd-analyze verify '$tmp/verify/koban.service' >'$tmp/log' 2>&1 && ! grep -q . '$tmp/log'"
else
	echo "SKIP systemd_analyze_verify: systemd-analyze is not installed"
fi

# ---- make uninstall
check uninstall sh -c "make -s uninstall DESTDIR='$r' PREFIX=/usr >'$tmp/log' 2>&1"
check uninstall_removed test ! -e "$r/usr/bin/koban" -a ! -e "$unit" -a \
	! -e "$r/usr/lib/sysusers.d/koban.conf" -a ! -e "$r/etc/koban/koban.yaml.example" -a \
	! -e "$r/usr/share/doc/koban"
check uninstall_keeps_config test -f "$r/etc/koban/koban.yaml"

# ---- default PREFIX=/usr/local: configuration under /usr/local/etc
d=$tmp/default
check install_default_prefix install_to "$d"
check default_prefix_paths test -x "$d/usr/local/bin/koban" -a \
	-f "$d/usr/local/etc/koban/koban.yaml" -a -f "$d/usr/local/lib/systemd/system/koban.service"
check default_prefix_unit has_line "$d/usr/local/lib/systemd/system/koban.service" \
	"ExecStart=/usr/local/bin/koban serve -c /usr/local/etc/koban/koban.yaml"

exit $failed
