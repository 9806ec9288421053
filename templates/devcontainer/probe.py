# nb2svc image probe: what this Python has installed, printed as one JSON object.
# Run as `python -c SCRIPT IMPORT...`; the named imports are located with find_spec, never
# imported, so probing runs no package code. Works from Python 3.6 (importlib_metadata) on.
import importlib.util
import json
import sys

try:
    from importlib import metadata
except ImportError:
    import importlib_metadata as metadata


def top_level_names(dist):
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip().replace("/", ".") for line in text.splitlines() if line.strip()}
    names = set()
    for path in dist.files or ():
        parts = path.parts
        if not parts or parts[0] in ("..", "__pycache__"):
            continue
        if parts[0].endswith((".dist-info", ".egg-info", ".data")):
            continue
        if len(parts) > 1:
            names.add(parts[0])
        elif parts[0].endswith(".py"):
            names.add(parts[0][:-3])
        elif parts[0].endswith((".so", ".pyd")):
            names.add(parts[0].split(".")[0])
    return names


distributions = {}
providers = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if not name or name in distributions:
        continue
    distributions[name] = dist.version
    for top in top_level_names(dist):
        providers.setdefault(top, set()).add(name)

importable = {}
for name in sys.argv[1:]:
    try:
        importable[name] = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        importable[name] = False

print(json.dumps({
    "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
    "distributions": distributions,
    "providers": {top: sorted(names) for top, names in providers.items()},
    "importable": importable,
}, sort_keys=True))
