using YamlDotNet.RepresentationModel;

namespace PiSa.Tests.Deploy;

/// <summary>deploy/: every manifest is valid YAML with apiVersion and kind, and every `pisa` command line in them
/// parses with the real `pisa` command tree (the command line is the contract these manifests rely on).</summary>
public sealed class DeployManifestTests
{
    private static string DeployDir => Path.Combine(FixturePaths.RepoRoot, "deploy");

    public static IEnumerable<object[]> Manifests() =>
        Directory.GetFiles(Path.Combine(FixturePaths.RepoRoot, "deploy"), "*.yaml").Order().Select(f => new object[] { Path.GetFileName(f) });

    [Theory, MemberData(nameof(Manifests))]
    public void Manifest_is_yaml_with_kinds_and_its_pisa_commands_parse(string file)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(DeployDir, file))) yaml.Load(reader);
        Assert.NotEmpty(yaml.Documents);
        int commands = 0;
        foreach (var doc in yaml.Documents)
        {
            var root = Assert.IsType<YamlMappingNode>(doc.RootNode);
            Assert.True(root.Children.ContainsKey("apiVersion") && root.Children.ContainsKey("kind"), $"{file}: a document without apiVersion/kind");
            foreach (var container in Containers(root))
            {
                var command = Strings(container, "command");
                if (command.Count == 0 || !command[0].EndsWith("pisa", StringComparison.Ordinal)) continue;
                // Kubernetes expands $(VAR) from the environment; any value stands in for it here.
                var args = command.Skip(1).Concat(Strings(container, "args")).Select(a => a.Replace("$(JOB_COMPLETION_INDEX)", "0")).ToArray();
                var parsed = PiSa.Cli.Program.BuildRoot().Parse(args);
                Assert.True(parsed.Errors.Count == 0, $"{file}: pisa {string.Join(' ', args)}: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
                commands++;
            }
        }
        Assert.True(commands > 0, $"{file}: no pisa command found");
    }

    [Fact]
    public void Dockerfile_copies_what_the_readme_publish_command_produces()
    {
        string dockerfile = File.ReadAllText(Path.Combine(DeployDir, "Dockerfile"));
        Assert.Contains("COPY artifacts/pisa/pisa /usr/local/bin/pisa", dockerfile);
        Assert.Contains("-p:PublishAot=true -o artifacts/pisa", File.ReadAllText(Path.Combine(FixturePaths.RepoRoot, "README.md")));
        Assert.DoesNotContain("RUN apt", dockerfile); // nothing is fetched while building the image
    }

    private static IEnumerable<YamlMappingNode> Containers(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                foreach (var (key, value) in map.Children)
                {
                    if (key is YamlScalarNode { Value: "containers" } && value is YamlSequenceNode seq)
                        foreach (var c in seq.Children.OfType<YamlMappingNode>()) yield return c;
                    else
                        foreach (var c in Containers(value)) yield return c;
                }
                break;
            case YamlSequenceNode list:
                foreach (var item in list.Children)
                    foreach (var c in Containers(item)) yield return c;
                break;
        }
    }

    private static List<string> Strings(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(key, out var v) && v is YamlSequenceNode s ? s.Children.OfType<YamlScalarNode>().Select(n => n.Value ?? "").ToList() : [];
}
