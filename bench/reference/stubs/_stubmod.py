# Import-time stand-ins for packages diffusers imports but the reference never calls (no hub, no files).
import re, types
def make_getattr(modname):
    def __getattr__(name):
        if name.startswith("__"): raise AttributeError(name)
        if name == "REGEX_COMMIT_HASH": return re.compile(r"^[0-9a-f]{40}$")
        if name.endswith("Error") or name.endswith("Exception"): return type(name, (Exception,), {})
        if name.isupper(): return False if "OFFLINE" in name or "DISABLE" in name else "/tmp/hf-stub"
        def f(*a, **k):
            if len(a) == 1 and callable(a[0]) and not k: return a[0]   # used as a decorator
            raise RuntimeError(f"{modname}.{name} is a stub (the reference runs offline)")
        return f
    return __getattr__
