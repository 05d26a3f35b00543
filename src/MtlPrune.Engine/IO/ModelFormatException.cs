namespace MtlPrune.Engine.IO;

/// <summary>A model or array file is malformed. The message names the file and the fault.</summary>
public sealed class ModelFormatException(string path, string fault) : Exception($"{path}: {fault}")
{
    public string FilePath { get; } = path;
    public string Fault { get; } = fault;
}
