#!/usr/bin/env bash
# Refreshes the GraphiQL that Courier serves itself (src/http/graphiql/):
# pinned production builds of GraphiQL, React and ReactDOM, taken from the
# npm registry. Change a version here, run this script, commit the result;
# the page's integrity hashes are computed from the bundled bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL=3.9.0
REACT=18.3.1

out=src/http/graphiql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  mkdir -p "$work/$pkg" && tar xzf "$work/$pkg.tgz" -C "$work/$pkg"
done
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" "$out/graphiql.min.js"
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" "$out/graphiql.min.css"
cp "$work/react-$REACT/package/umd/react.production.min.js" "$out/react.production.min.js"
cp "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" "$out/react-dom.production.min.js"
printf 'graphiql %s\nreact %s\nreact-dom %s\n' "$GRAPHIQL" "$REACT" "$REACT" > "$out/VERSIONS"
echo "GraphiQL $GRAPHIQL with React $REACT copied into $out"
