using System.CommandLine;
using System.CommandLine.Parsing;

namespace PiSa.Cli.Commands;

/// <summary>Options whose value is one of a few words, matched case-insensitively (<c>--mode Fused</c>) and
/// given to the action in lower case.</summary>
public static class Choices
{
    public static Option<string> Create(string name, string description, string? defaultValue, params string[] values) =>
        Create(name, [], description, defaultValue, values);

    public static Option<string> Create(string name, string[] aliases, string description, string? defaultValue, params string[] values)
    {
        var o = new Option<string>(name, aliases)
        {
            Description = description,
            CustomParser = r => r.Tokens.Count == 0 ? null : r.Tokens[0].Value.ToLowerInvariant(),
        };
        if (defaultValue != null) o.DefaultValueFactory = _ => defaultValue;
        o.CompletionSources.Add(values);
        o.Validators.Add(r =>
        {
            if (r.Tokens.Count == 0) return;
            string v = r.Tokens[0].Value;
            if (!values.Contains(v.ToLowerInvariant()))
                r.AddError($"'{v}' is not a valid value for {name} (use {string.Join(", ", values)})");
        });
        return o;
    }
}

/// <summary>A mistake in how a command was called (exit code 2), found after parsing.</summary>
public sealed class UsageException(string message) : Engine.PisaException(message);
