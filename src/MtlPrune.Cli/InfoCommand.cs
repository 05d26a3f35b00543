using System.CommandLine;
using System.Text.Json;
using MtlPrune.Diagnostics;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune info</c>: engine version, SIMD width in use, core count and machine.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON instead of a table." };
        var cmd = new Command("info", "Show the engine version, the SIMD width in use and the core count.") { json };
        cmd.SetAction(parse =>
        {
            var r = SystemReport.Current();
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(r, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var table = new Table().AddColumn("item").AddColumn("value");
            foreach (var (label, value) in r.Rows()) table.AddRow(Markup.Escape(label), Markup.Escape(value));
            AnsiConsole.Write(table);
            return 0;
        });
        return cmd;
    }
}
