# SPDX-License-Identifier: MIT
# Sourced by scripts/compile-check-libtorch2.sh and scripts/check-cuda.sh: unpack Debian packages of another suite
# into a private folder, with apt's configuration, sources list, lists, caches, logs and dpkg status all private, so
# the system's apt state is neither read nor written and nothing is installed (dpkg-deb -x only).

# The Debian mirror this machine's apt already uses (first deb822 URIs: or one-line deb entry ending in /debian), so
# the fetch reaches exactly what apt-get reaches.
debian_system_mirror() {
  { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } |
    sed -n -E 's#^URIs:[[:space:]]*([^[:space:]]+/debian)$#\1#p; s#^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+/debian)[[:space:]].*#\2#p' |
    head -n 1
}

# debian_fetch CACHE SUITE COMPONENT MIRROR EXPIRED REFRESH PKG...
#   Unpacks PKG... from "MIRROR SUITE COMPONENT" into CACHE/root (index and .debs under CACHE/apt, CACHE/debs),
#   signed-by debian-archive-keyring. CACHE/root/.libtorch-compile-check is the stamp: line 1 says what was asked
#   for, then one "Package Version" line per package. The root is reused when the stamp asks for the same thing and
#   REFRESH is 0. EXPIRED says what to do with a Release file past its Valid-Until (sid on a frozen mirror):
#   fail (say so), allow (accept it from the start) or retry (retry once accepting it). The signature is checked in
#   every case. Returns 0 when the root is ready, 3 (with a message on stderr) when the fetch failed.
debian_fetch() {
  local cache="$1" suite="$2" component="$3" mirror="$4" expired="$5" refresh="$6"
  shift 6
  local packages=("$@")
  local keyring="/usr/share/keyrings/debian-archive-keyring.gpg"
  local aptdir="$cache/apt" debdir="$cache/debs" root="$cache/root"
  local stamp="$root/.libtorch-compile-check"
  local want="suite=$suite component=$component mirror=$mirror packages=${packages[*]}"
  local tool
  for tool in apt-get dpkg-deb dpkg; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; return 3; }
  done
  [[ -r "$keyring" ]] || { echo "missing $keyring (package debian-archive-keyring)" >&2; return 3; }
  [[ -n "$mirror" ]] || { echo "no Debian mirror in this machine's apt sources; pass --mirror URL or set DEBIAN_MIRROR" >&2; return 3; }
  if [[ "$refresh" -eq 0 && -f "$stamp" && "$(head -n1 "$stamp")" == "$want" ]]; then
    echo "== reusing $root (--refresh to fetch again)"
    sed -n '2,$p' "$stamp" | sed 's/^/   /'
    return 0
  fi

  rm -rf "$aptdir" "$debdir" "$root"
  mkdir -p "$aptdir"/etc/apt.conf.d "$aptdir"/etc/preferences.d "$aptdir"/etc/sources.list.d \
    "$aptdir"/state/lists/partial "$aptdir"/cache/archives/partial "$aptdir"/log "$debdir" "$root"
  : > "$aptdir/state/status"   # an empty dpkg status: apt sees nothing installed, and the system's is never read
  echo "deb [signed-by=$keyring] $mirror $suite $component" > "$aptdir/etc/sources.list"
  # APT_CONFIG is read before anything else, so pointing Dir::Etc::Parts/main at empty private files here also keeps
  # /etc/apt/apt.conf.d (its update hooks included) out of it. Every state, list, cache and log path is private.
  _debian_fetch_conf() {
    echo "Dir::Etc \"$aptdir/etc/\";"
    echo "Dir::Etc::Parts \"$aptdir/etc/apt.conf.d/\";"
    echo "Dir::Etc::main \"$aptdir/etc/apt.conf\";"
    echo "Dir::Etc::SourceList \"$aptdir/etc/sources.list\";"
    echo "Dir::Etc::SourceParts \"$aptdir/etc/sources.list.d/\";"
    echo "Dir::Etc::Preferences \"$aptdir/etc/preferences\";"
    echo "Dir::Etc::PreferencesParts \"$aptdir/etc/preferences.d/\";"
    echo "Dir::State \"$aptdir/state/\";"
    echo "Dir::State::status \"$aptdir/state/status\";"
    echo "Dir::Cache \"$aptdir/cache/\";"
    echo "Dir::Log \"$aptdir/log/\";"
    echo "APT::Architecture \"$(dpkg --print-architecture)\";"
    echo "APT::Architectures { \"$(dpkg --print-architecture)\"; };"
    echo "Acquire::Languages \"none\";"
    if [[ "$1" -eq 1 ]]; then echo "Acquire::Check-Valid-Until \"false\";"; fi
    # As root, apt would hand the downloads to user _apt, who cannot write to a root-owned private folder.
    if [[ $EUID -eq 0 ]]; then echo "APT::Sandbox::User \"root\";"; fi
  }
  _debian_fetch_update() {
    _debian_fetch_conf "$1" > "$aptdir/apt.conf"
    echo "== apt-get update ($mirror $suite $component, private state in $aptdir)"
    APT_CONFIG="$aptdir/apt.conf" apt-get -q update > "$aptdir/update.log" 2>&1 || true
    grep -E '^(Get|Err|E:|W:|Fetched)' "$aptdir/update.log" || true
    ! grep -q '^E:' "$aptdir/update.log"
  }
  local allow=0
  [[ "$expired" == allow ]] && allow=1
  if ! _debian_fetch_update "$allow"; then
    if grep -q 'is expired' "$aptdir/update.log" && [[ "$expired" == retry ]]; then
      echo "== the $suite Release file is expired (frozen mirror?); retrying with Acquire::Check-Valid-Until=false"
      _debian_fetch_update 1 || { echo "apt-get update failed; see $aptdir/update.log" >&2; return 3; }
    else
      if grep -q 'is expired' "$aptdir/update.log"; then
        echo "The $suite Release file is expired (frozen mirror?); rerun with --allow-expired-release." >&2
      fi
      echo "apt-get update failed; see $aptdir/update.log" >&2
      return 3
    fi
  fi
  echo "== apt-get download ${packages[*]}"
  (cd "$debdir" && APT_CONFIG="$aptdir/apt.conf" apt-get -q download "${packages[@]}") 2>&1 |
    grep -E '^(Get|Err|E:|W:|Fetched)' || true
  local debs deb
  shopt -s nullglob
  debs=("$debdir"/*.deb)
  shopt -u nullglob
  if [[ ${#debs[@]} -ne ${#packages[@]} ]]; then
    echo "apt-get download failed (got ${#debs[@]} of ${#packages[@]} packages: ${packages[*]})" >&2
    return 3
  fi
  for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$root" || return 3; done
  {
    echo "$want"
    for deb in "${debs[@]}"; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done
  } > "$stamp"
  echo "downloaded: package(s) $(du -ch "${debs[@]}" | tail -n1 | cut -f1) (index: see Fetched above)"
  # The index and apt's binary caches are not needed once the root is unpacked.
  rm -rf "$aptdir/state/lists" "$aptdir/cache"
  sed -n '2,$p' "$stamp" | sed 's/^/   /'
}
