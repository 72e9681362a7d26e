#!/bin/sh
# Stub sources for every target a Cargo.toml declares, so that cargo accepts the manifest with
# only Cargo.toml and Cargo.lock present and builds the dependencies alone: the Dockerfile's
# dependency layer, which stays cached for as long as those two files (and this one) do not change.
#
#   sh stub-targets.sh create   writes the stubs that are missing and lists them in .stub-targets
#   sh stub-targets.sh remove   deletes exactly what `create` wrote
#
# cargo refuses a manifest whose declared targets ([lib], [[bin]], [[bench]], [[example]],
# [[test]], `build = "…"`) have no file, even when only `--bin` is built; src/main.rs and
# src/lib.rs are stubbed too, as the package's own targets. POSIX sh and awk only: it runs in the
# Alpine build image (busybox) and on any CI machine. tests/image/ runs it against Cargo.toml
# and against a manifest with every form of target.
set -eu

list=.stub-targets
manifest=Cargo.toml

# One line per file to stub: `main` (gets `fn main() {}`) or `lib` (empty), then the path.
declared_targets() {
  awk '
    function value(line) {
      sub(/^[^=]*=[ \t]*"/, "", line)
      sub(/".*$/, "", line)
      return line
    }
    function flush() {
      if (kind == "lib") print "lib\t" (path != "" ? path : "src/lib.rs")
      else if (kind == "bin") {
        if (path == "") path = (name == package_name ? "src/main.rs" : "src/bin/" name ".rs")
        print "main\t" path
      }
      else if (kind == "bench") print "main\t" (path != "" ? path : "benches/" name ".rs")
      else if (kind == "example") print "main\t" (path != "" ? path : "examples/" name ".rs")
      else if (kind == "test") print "main\t" (path != "" ? path : "tests/" name ".rs")
      kind = ""; name = ""; path = ""
    }
    /^[ \t]*\[/ {
      flush()
      section = $0
      gsub(/[ \t]/, "", section)
      if (section ~ /^\[\[(bin|bench|example|test)\]\]/) {
        kind = section
        gsub(/[\[\]]/, "", kind)
        sub(/#.*/, "", kind)
      } else if (section ~ /^\[lib\]/) kind = "lib"
      in_package = (section ~ /^\[package\]/)
      next
    }
    in_package && /^[ \t]*name[ \t]*=[ \t]*"/ { package_name = value($0) }
    in_package && /^[ \t]*build[ \t]*=[ \t]*"/ { print "main\t" value($0) }
    kind != "" && /^[ \t]*name[ \t]*=[ \t]*"/ { name = value($0) }
    kind != "" && /^[ \t]*path[ \t]*=[ \t]*"/ { path = value($0) }
    END {
      flush()
      print "main\tsrc/main.rs"
      print "lib\tsrc/lib.rs"
    }
  ' "$manifest"
}

create() {
  [ -f "$manifest" ] || { echo "stub-targets: no $manifest in $(pwd)" >&2; exit 1; }
  : >"$list"
  declared_targets | while IFS="$(printf '\t')" read -r kind path; do
    [ -e "$path" ] && continue
    mkdir -p "$(dirname "$path")"
    if [ "$kind" = main ]; then echo 'fn main() {}' >"$path"; else : >"$path"; fi
    echo "$path" >>"$list"
  done
}

remove() {
  [ -f "$list" ] || { echo "stub-targets: no $list: run \`create\` first" >&2; exit 1; }
  while read -r path; do
    rm -f "$path"
    # The directories the stubs needed, when nothing else is in them (rmdir refuses otherwise).
    dir=$(dirname "$path")
    while [ "$dir" != . ] && rmdir "$dir" 2>/dev/null; do dir=$(dirname "$dir"); done
  done <"$list"
  rm -f "$list"
}

case ${1-} in
  create) create ;;
  remove) remove ;;
  *) echo "usage: sh stub-targets.sh create|remove" >&2; exit 2 ;;
esac
