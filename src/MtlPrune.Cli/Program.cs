using System.CommandLine;
using MtlPrune.Cli;

var root = new RootCommand("mtlprune: prune pre-trained multi-task networks into compact sparse models for edge devices.");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
return root.Parse(args).Invoke();
