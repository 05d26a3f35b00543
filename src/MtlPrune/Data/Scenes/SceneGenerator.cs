using MtlPrune.Engine;

namespace MtlPrune.Data.Scenes;

/// <summary>A room, its objects, a camera and a light, all drawn from one seeded generator.</summary>
internal sealed record Scene(V3 RoomMin, V3 RoomMax, Primitive[] Objects, V3[] SurfaceColors, Pattern[] SurfacePatterns,
    V3 CameraPos, double Yaw, double Pitch, double FovX, V3 Light);

/// <summary>Draws random indoor scenes: deterministic in (seed, index).</summary>
internal static class SceneGenerator
{
    public static Scene Generate(ulong seed, int index)
    {
        var rng = new Rng(seed * 0x9E3779B97F4A7C15UL ^ (ulong)index * 0xD1B54A32D192ED03UL ^ 0x5CE4E5UL);
        double U(double a, double b) => a + (b - a) * rng.NextDouble();
        V3 Color(double hueCenter) => Hsv((hueCenter + U(-0.08, 0.08) + 1) % 1, U(0.35, 0.8), U(0.45, 0.95));
        double w = U(2.2, 3.5), h = U(2.4, 3.0), dz = U(3.0, 5.0);
        var min = new V3(-w, 0, -1.2); var max = new V3(w, h, dz);
        var objects = new List<Primitive>();
        var placed = new List<(double X, double Z, double R)>();

        bool Free(double x, double z, double r)
        {
            if (x - r < min.X + 0.05 || x + r > max.X - 0.05 || z - r < 0.6 || z + r > max.Z - 0.05) return false;
            foreach (var (px, pz, pr) in placed) if ((px - x) * (px - x) + (pz - z) * (pz - z) < (pr + r) * (pr + r)) return false;
            return true;
        }
        bool Place(double r, out double x, out double z)
        {
            for (int tries = 0; tries < 30; tries++)
            {
                x = U(min.X + r, max.X - r); z = U(0.8 + r, max.Z - r);
                if (Free(x, z, r)) { placed.Add((x, z, r)); return true; }
            }
            x = z = 0; return false;
        }
        Pattern P() => (Pattern)rng.NextInt(4);

        int count = 4 + rng.NextInt(5);
        for (int i = 0; i < count; i++)
        {
            int cls = 3 + rng.NextInt(10);
            double yaw = U(-0.6, 0.6);
            switch (cls)
            {
                case SceneClasses.Box:
                    { double s = U(0.2, 0.45); if (!Place(s * 1.5, out var x, out var z)) break; objects.Add(new(Shape.Box, cls, new V3(x, s, z), new V3(s, s, s * U(0.7, 1.3)), yaw, Color(0.08), P(), U(3, 8))); break; }
                case SceneClasses.Sphere:
                    { double r = U(0.18, 0.4); if (!Place(r, out var x, out var z)) break; objects.Add(new(Shape.Sphere, cls, new V3(x, r, z), new V3(r, r, r), 0, Color(0.6), P(), U(3, 8))); break; }
                case SceneClasses.Cylinder:
                    { double r = U(0.15, 0.3), hh = U(0.3, 0.8); if (!Place(r, out var x, out var z)) break; objects.Add(new(Shape.Cylinder, cls, new V3(x, hh, z), new V3(r, hh, r), 0, Color(0.35), P(), U(3, 8))); break; }
                case SceneClasses.Table:
                    {
                        double tw = U(0.4, 0.7), td = U(0.3, 0.5), th = U(0.65, 0.8);
                        if (!Place(Math.Max(tw, td) * 1.1, out var x, out var z)) break;
                        var col = Color(0.1); var c = new V3(x, 0, z);
                        objects.Add(new(Shape.Box, cls, c + new V3(0, th, 0), new V3(tw, 0.03, td), yaw, col, Pattern.Stripes, 6));
                        foreach (var (sx, sz) in new[] { (-1, -1), (-1, 1), (1, -1), (1, 1) })
                            objects.Add(new(Shape.Box, cls, c + new V3(sx * (tw - 0.05), 0, sz * (td - 0.05)).RotY(yaw) + new V3(0, th / 2, 0),
                                new V3(0.03, th / 2, 0.03), yaw, col * 0.8, Pattern.Plain, 1));
                        break;
                    }
                case SceneClasses.Cabinet:
                    {
                        double cw = U(0.3, 0.5), ch = U(0.7, 1.1), cd = U(0.2, 0.3);
                        double x = U(min.X + cw, max.X - cw); double z = max.Z - cd - 0.01;
                        if (!Free(x, z, cw)) break; placed.Add((x, z, cw));
                        objects.Add(new(Shape.Box, cls, new V3(x, ch, z), new V3(cw, ch, cd), 0, Color(0.05), Pattern.Stripes, 4)); break;
                    }
                case SceneClasses.Bed:
                    {
                        double bw = U(0.6, 0.9), bl = U(0.8, 1.1), bh = U(0.2, 0.3);
                        if (!Place(Math.Max(bw, bl), out var x, out var z)) break;
                        objects.Add(new(Shape.Box, cls, new V3(x, bh, z), new V3(bw, bh, bl), yaw, Color(0.75), Pattern.Checker, 5)); break;
                    }
                case SceneClasses.Chair:
                    {
                        double s = U(0.2, 0.26), sh = U(0.4, 0.48);
                        if (!Place(s * 1.5, out var x, out var z)) break;
                        var col = Color(0.15); var c = new V3(x, 0, z);
                        objects.Add(new(Shape.Box, cls, new V3(x, sh, z), new V3(s, 0.03, s), yaw, col, Pattern.Plain, 1));
                        objects.Add(new(Shape.Box, cls, c + new V3(0, sh + 0.25, s - 0.02).RotY(yaw), new V3(s, 0.25, 0.02), yaw, col, Pattern.Stripes, 8));
                        objects.Add(new(Shape.Box, cls, new V3(x, sh / 2, z), new V3(0.03, sh / 2, 0.03), 0, col * 0.7, Pattern.Plain, 1));
                        break;
                    }
                case SceneClasses.Lamp:
                    {
                        double ph = U(0.6, 1.2);
                        if (!Place(0.25, out var x, out var z)) break;
                        objects.Add(new(Shape.Cylinder, cls, new V3(x, ph / 2, z), new V3(0.025, ph / 2, 0), 0, new V3(0.3, 0.3, 0.3), Pattern.Plain, 1));
                        objects.Add(new(Shape.Sphere, cls, new V3(x, ph + 0.15, z), new V3(0.18, 0, 0), 0, Hsv(0.13, 0.3, 0.98), Pattern.Plain, 1));
                        break;
                    }
                case SceneClasses.Picture:
                    {
                        double pw = U(0.25, 0.6), ph = U(0.2, 0.45);
                        objects.Add(new(Shape.Box, cls, new V3(U(min.X + pw + 0.1, max.X - pw - 0.1), U(1.2, h - ph - 0.2), max.Z - 0.02), new V3(pw, ph, 0.02), 0, Color(rng.NextDouble()), Pattern.Noise, U(6, 14)));
                        break;
                    }
                case SceneClasses.Rug:
                    {
                        double rw = U(0.5, 1.0), rd = U(0.4, 0.8);
                        double x = U(min.X + rw, max.X - rw), z = U(1.0 + rd, max.Z - rd);
                        objects.Add(new(Shape.Box, cls, new V3(x, 0.005, z), new V3(rw, 0.005, rd), yaw, Color(0.95), Pattern.Checker, U(4, 9)));
                        break;
                    }
            }
        }
        var surfaceColors = new[] { Color(0.09), Color(0.55), Hsv(0.1, 0.05, 0.92) };
        var surfacePatterns = new[] { (Pattern)(1 + rng.NextInt(3)), rng.NextInt(2) == 0 ? Pattern.Plain : Pattern.Stripes, Pattern.Plain };
        var cam = new V3(U(-0.4, 0.4), U(1.2, 1.7), U(-1.0, -0.6));
        var light = new V3(U(-w + 0.5, w - 0.5), h - 0.1, U(0.5, dz - 0.5));
        return new Scene(min, max, objects.ToArray(), surfaceColors, surfacePatterns, cam, U(-0.35, 0.35), U(-0.45, -0.15), U(1.1, 1.3), light);
    }

    private static V3 Hsv(double h, double s, double v)
    {
        double c = v * s, x = c * (1 - Math.Abs(h * 6 % 2 - 1)), m = v - c;
        var (r, g, b) = (int)(h * 6) switch { 0 => (c, x, 0.0), 1 => (x, c, 0.0), 2 => (0.0, c, x), 3 => (0.0, x, c), 4 => (x, 0.0, c), _ => (c, 0.0, x) };
        return new V3(r + m, g + m, b + m);
    }
}
