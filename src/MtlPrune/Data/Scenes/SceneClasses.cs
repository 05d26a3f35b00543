namespace MtlPrune.Data.Scenes;

/// <summary>The 13 semantic classes of the built-in <c>scenes</c> data.</summary>
public static class SceneClasses
{
    public static readonly string[] Names =
        { "floor", "wall", "ceiling", "box", "sphere", "cylinder", "table", "cabinet", "bed", "chair", "lamp", "picture", "rug" };

    public const int Floor = 0, Wall = 1, Ceiling = 2, Box = 3, Sphere = 4, Cylinder = 5, Table = 6, Cabinet = 7, Bed = 8,
        Chair = 9, Lamp = 10, Picture = 11, Rug = 12;

    public static int Count => Names.Length;
}
