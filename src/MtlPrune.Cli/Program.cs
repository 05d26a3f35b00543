return MtlPrune.Cli.CliApp.Run(args);
