using MtlPrune.Engine;

namespace MtlPrune.Data.Scenes;

/// <summary>Rendered image and exact per-pixel targets of one scene.</summary>
internal sealed record RenderedScene(float[] Rgb, float[] Seg, float[] Depth, float[] Normal, float[] Edges, float[] Keypoints, int H, int W);

/// <summary>
/// Ray-casts a <see cref="Scene"/>: one ray per pixel from a pinhole camera; the nearest hit gives the semantic class,
/// the z-depth (metres along the optical axis) and the surface normal (camera frame: x right, y up, z forward). The
/// RGB image is the surface colour times its procedural pattern under ambient + Lambertian light with distance falloff.
/// Edges are the Sobel magnitude of the unlit texture image (texture edges, as Taskonomy's edge_texture); keypoints are
/// the Harris corner response of the lit image.
/// </summary>
internal static class SceneRenderer
{
    public static RenderedScene Render(Scene s, int h, int w)
    {
        int n = h * w;
        var rgb = new float[3 * n]; var seg = new float[n]; var depth = new float[n]; var normal = new float[3 * n];
        var texture = new float[n]; var gray = new float[n];
        double cy = Math.Cos(s.Yaw), sy = Math.Sin(s.Yaw), cp = Math.Cos(s.Pitch), sp = Math.Sin(s.Pitch);
        var forward = new V3(sy * cp, sp, cy * cp);
        var right = new V3(cy, 0, -sy);
        var up = new V3(-sy * sp, cp, -cy * sp);
        double tx = Math.Tan(s.FovX / 2), ty = tx * h / w;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
            {
                double u = (2 * (j + 0.5) / w - 1) * tx, v = -(2 * (i + 0.5) / h - 1) * ty;
                var d = (forward + right * u + up * v).Normalized();
                var hit = Trace(s, s.CameraPos, d);
                var p = s.CameraPos + d * hit.T;
                var nrm = hit.Normal.Dot(d) > 0 ? -hit.Normal : hit.Normal;
                double tex = PatternValue(hit, p, nrm, s);
                var albedo = hit.Albedo * tex;
                var toLight = s.Light - p; double dist = toLight.Length;
                double lambert = Math.Max(0, nrm.Dot(toLight * (1 / dist)));
                double shade = hit.Class == SceneClasses.Lamp && nrm.Y > -0.5 && (p - s.Light).Length > 0 ? 0.35 + 0.65 * lambert / (1 + 0.08 * dist * dist) : 0.3 + 0.7 * lambert / (1 + 0.08 * dist * dist);
                int k = i * w + j;
                rgb[k] = (float)Math.Clamp(albedo.X * shade, 0, 1);
                rgb[n + k] = (float)Math.Clamp(albedo.Y * shade, 0, 1);
                rgb[2 * n + k] = (float)Math.Clamp(albedo.Z * shade, 0, 1);
                seg[k] = hit.Class;
                depth[k] = (float)(hit.T * d.Dot(forward));
                normal[k] = (float)nrm.Dot(right); normal[n + k] = (float)nrm.Dot(up); normal[2 * n + k] = (float)nrm.Dot(forward);
                texture[k] = (float)(0.299 * albedo.X + 0.587 * albedo.Y + 0.114 * albedo.Z);
                gray[k] = 0.299f * rgb[k] + 0.587f * rgb[n + k] + 0.114f * rgb[2 * n + k];
            }
        return new RenderedScene(rgb, seg, depth, normal, SobelMagnitude(texture, h, w, 0.5f), Harris(gray, h, w), h, w);
    }

    private static Hit Trace(Scene s, V3 o, V3 d)
    {
        // The room: the camera is inside, so the exit through the nearest bounding plane is the hit.
        double best = double.MaxValue; int axis = 0;
        for (int a = 0; a < 3; a++)
        {
            double oa = a == 0 ? o.X : a == 1 ? o.Y : o.Z, da = a == 0 ? d.X : a == 1 ? d.Y : d.Z;
            if (Math.Abs(da) < 1e-12) continue;
            double bound = da > 0 ? (a == 0 ? s.RoomMax.X : a == 1 ? s.RoomMax.Y : s.RoomMax.Z) : (a == 0 ? s.RoomMin.X : a == 1 ? s.RoomMin.Y : s.RoomMin.Z);
            double t = (bound - oa) / da;
            if (t < best) { best = t; axis = a; }
        }
        int cls = axis == 1 ? (d.Y < 0 ? SceneClasses.Floor : SceneClasses.Ceiling) : SceneClasses.Wall;
        var n = axis == 0 ? new V3(-Math.Sign(d.X), 0, 0) : axis == 1 ? new V3(0, -Math.Sign(d.Y), 0) : new V3(0, 0, -Math.Sign(d.Z));
        var hit = new Hit(best, n, cls, s.SurfaceColors[cls]);
        foreach (var p in s.Objects)
            if (Intersect.Ray(p, o, d, hit.T, out double t, out var on)) hit = new Hit(t, on, p.Class, p.Color);
        return hit;
    }

    private static double PatternValue(Hit hit, V3 p, V3 n, Scene s)
    {
        Pattern pattern; double scale; V3 local;
        if (hit.Class <= SceneClasses.Ceiling) { pattern = s.SurfacePatterns[hit.Class]; scale = 2.5; local = p; }
        else
        {
            var prim = FindPrimitive(s, hit, p);
            pattern = prim?.Pattern ?? Pattern.Plain; scale = prim?.PatternScale ?? 1; local = prim is null ? p : (p - prim.Center).RotY(-prim.Yaw);
        }
        double a, b;
        double ax = Math.Abs(n.X), ay = Math.Abs(n.Y), az = Math.Abs(n.Z);
        if (ay >= ax && ay >= az) { a = local.X; b = local.Z; } else if (ax >= az) { a = local.Z; b = local.Y; } else { a = local.X; b = local.Y; }
        a *= scale; b *= scale;
        return pattern switch
        {
            Pattern.Checker => ((int)Math.Floor(a) + (int)Math.Floor(b)) % 2 == 0 ? 1.0 : 0.62,
            Pattern.Stripes => (int)Math.Floor(a) % 2 == 0 ? 1.0 : 0.72,
            Pattern.Noise => 0.65 + 0.35 * ValueNoise(a, b),
            _ => 1.0,
        };
    }

    private static Primitive? FindPrimitive(Scene s, Hit hit, V3 p)
    {
        Primitive? best = null; double bestD = double.MaxValue;
        foreach (var prim in s.Objects)
        {
            if (prim.Class != hit.Class || prim.Color != hit.Albedo) continue;
            double dd = (p - prim.Center).Length;
            if (dd < bestD) { bestD = dd; best = prim; }
        }
        return best;
    }

    private static double ValueNoise(double x, double y)
    {
        int xi = (int)Math.Floor(x), yi = (int)Math.Floor(y);
        double fx = x - xi, fy = y - yi;
        double H(int a, int b) { uint hsh = (uint)(a * 374761393 + b * 668265263); hsh = (hsh ^ (hsh >> 13)) * 1274126177; return (hsh & 0xFFFF) / 65535.0; }
        double sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy);
        double top = H(xi, yi) * (1 - sx) + H(xi + 1, yi) * sx, bot = H(xi, yi + 1) * (1 - sx) + H(xi + 1, yi + 1) * sx;
        return top * (1 - sy) + bot * sy;
    }

    private static float[] SobelMagnitude(float[] img, int h, int w, float scale)
    {
        var r = new float[h * w];
        float At(int i, int j) => img[Math.Clamp(i, 0, h - 1) * w + Math.Clamp(j, 0, w - 1)];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
            {
                float gx = At(i - 1, j + 1) + 2 * At(i, j + 1) + At(i + 1, j + 1) - At(i - 1, j - 1) - 2 * At(i, j - 1) - At(i + 1, j - 1);
                float gy = At(i + 1, j - 1) + 2 * At(i + 1, j) + At(i + 1, j + 1) - At(i - 1, j - 1) - 2 * At(i - 1, j) - At(i - 1, j + 1);
                r[i * w + j] = Math.Min(1f, MathF.Sqrt(gx * gx + gy * gy) * scale);
            }
        return r;
    }

    private static float[] Harris(float[] img, int h, int w)
    {
        var ix = new float[h * w]; var iy = new float[h * w];
        float At(int i, int j) => img[Math.Clamp(i, 0, h - 1) * w + Math.Clamp(j, 0, w - 1)];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) { ix[i * w + j] = (At(i, j + 1) - At(i, j - 1)) / 2; iy[i * w + j] = (At(i + 1, j) - At(i - 1, j)) / 2; }
        var r = new float[h * w];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
            {
                double a = 0, b = 0, c = 0;
                for (int di = -1; di <= 1; di++)
                    for (int dj = -1; dj <= 1; dj++)
                    {
                        int k = Math.Clamp(i + di, 0, h - 1) * w + Math.Clamp(j + dj, 0, w - 1);
                        a += ix[k] * ix[k]; b += ix[k] * iy[k]; c += iy[k] * iy[k];
                    }
                double resp = a * c - b * b - 0.05 * (a + c) * (a + c);
                r[i * w + j] = (float)Math.Clamp(resp * 400, 0, 1);
            }
        return r;
    }
}
