using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MtlPrune.Training;

/// <summary>Appends metrics as JSON lines and as CSV rows <c>step,name,value</c>.</summary>
internal sealed class MetricsLog(string dir)
{
    private readonly StringBuilder _jsonl = new(), _csv = new();

    public void Add(int step, IReadOnlyDictionary<string, double> values)
    {
        var row = new Dictionary<string, object> { ["step"] = step };
        foreach (var (k, v) in values) { row[k] = v; _csv.Append(CultureInfo.InvariantCulture, $"{step},{k},{v.ToString("R", CultureInfo.InvariantCulture)}\n"); }
        _jsonl.AppendLine(JsonSerializer.Serialize(row));
        if (_jsonl.Length > 1 << 16) Flush();
    }

    public void Flush()
    {
        var csvPath = Path.Combine(dir, "metrics.csv");
        if (!File.Exists(csvPath)) File.WriteAllText(csvPath, "step,name,value\n");
        File.AppendAllText(Path.Combine(dir, "metrics.jsonl"), _jsonl.ToString());
        File.AppendAllText(csvPath, _csv.ToString());
        _jsonl.Clear(); _csv.Clear();
    }
}
