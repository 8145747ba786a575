namespace PiSa.Engine.Formats.Pickle;

/// <summary>
/// Checks an unpickled value graph before anyone walks it recursively: no cycles (a list appended to
/// itself through the memo) and no nesting deeper than a cap. Iterative, and each container is visited
/// once, so shared sub-objects (memo references) cannot blow up the walk.
/// </summary>
internal static class PickleGraph
{
    public static void CheckDepth(object? root, int maxDepth, string source)
    {
        if (!IsContainer(root)) return;
        var depth = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
        var onPath = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var frames = new Stack<Frame>();
        Enter(root!);
        while (frames.Count > 0)
        {
            var top = frames.Peek();
            if (top.Children.MoveNext())
            {
                object? child = top.Children.Current;
                if (!IsContainer(child)) continue;
                if (onPath.Contains(child!)) throw new PisaException($"torch checkpoint '{source}': the pickle contains a cycle");
                if (depth.TryGetValue(child!, out int d)) top.MaxChild = Math.Max(top.MaxChild, d);
                else Enter(child!);
                continue;
            }
            frames.Pop();
            onPath.Remove(top.Node);
            int mine = top.MaxChild + 1;
            depth[top.Node] = mine;
            if (frames.Count > 0) frames.Peek().MaxChild = Math.Max(frames.Peek().MaxChild, mine);
        }

        void Enter(object node)
        {
            if (frames.Count >= maxDepth)
                throw new PisaException($"torch checkpoint '{source}': containers nested deeper than {maxDepth}");
            onPath.Add(node);
            frames.Push(new Frame(node, Children(node)));
        }
    }

    private sealed class Frame(object node, IEnumerator<object?> children)
    {
        public object Node { get; } = node;
        public IEnumerator<object?> Children { get; } = children;
        public int MaxChild { get; set; }
    }

    private static bool IsContainer(object? v) => v is PickleTuple or List<object?> or PickleDict;

    private static IEnumerator<object?> Children(object node) => node switch
    {
        PickleTuple t => t.GetEnumerator(),
        List<object?> l => l.GetEnumerator(),
        PickleDict d => d.Values.GetEnumerator(),
        _ => Enumerable.Empty<object?>().GetEnumerator(),
    };
}
