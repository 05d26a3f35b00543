MtlPrune.Cli.CliApp.ConfigureConsole();
return MtlPrune.Cli.CliApp.Run(args);
