# Sourced by tools/setup_webui.sh and tools/setup_forge.sh (they set $mirrors).
# export_tree OWNER+NAME COMMIT INTO: one commit of a local bare mirror as plain files, file by
# file when `git archive` trips on an absent blob; done once per commit (a marker file).
export_tree() {
    local repo=$mirrors/$1/repo commit=$2 into=$3
    [ -d "$repo" ] || { echo "$(basename "$0"): no mirror at $repo (fetch github:${1/+//} first)" >&2; exit 1; }
    [ -e "$into/.exported-$commit" ] && return
    rm -rf "$into" && mkdir -p "$into"
    if ! git --git-dir="$repo" archive "$commit" | tar -x -C "$into" 2>/dev/null; then
        git --git-dir="$repo" ls-tree -r --name-only "$commit" | while IFS= read -r path; do
            mkdir -p "$into/$(dirname "$path")"
            git --git-dir="$repo" show "$commit:$path" >"$into/$path" 2>/dev/null || rm -f "$into/$path"
        done
    fi
    touch "$into/.exported-$commit"
}
