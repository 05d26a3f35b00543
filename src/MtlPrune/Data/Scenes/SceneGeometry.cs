namespace MtlPrune.Data.Scenes;

/// <summary>A 3-vector of doubles.</summary>
internal readonly record struct V3(double X, double Y, double Z)
{
    public static V3 operator +(V3 a, V3 b) => new(a.X + b.X, a.Y + b.Y, a.Z + b.Z);
    public static V3 operator -(V3 a, V3 b) => new(a.X - b.X, a.Y - b.Y, a.Z - b.Z);
    public static V3 operator *(V3 a, double s) => new(a.X * s, a.Y * s, a.Z * s);
    public static V3 operator -(V3 a) => new(-a.X, -a.Y, -a.Z);
    public double Dot(V3 b) => X * b.X + Y * b.Y + Z * b.Z;
    public double Length => Math.Sqrt(Dot(this));
    public V3 Normalized() { double l = Length; return l > 0 ? this * (1 / l) : this; }
    /// <summary>Rotation about the vertical (y) axis by <paramref name="a"/> radians.</summary>
    public V3 RotY(double a) { double c = Math.Cos(a), s = Math.Sin(a); return new(c * X + s * Z, Y, -s * X + c * Z); }
}

/// <summary>Primitive shapes the renderer can intersect.</summary>
internal enum Shape { Box, Sphere, Cylinder }

/// <summary>Procedural surface patterns.</summary>
internal enum Pattern { Plain, Checker, Stripes, Noise }

/// <summary>
/// One primitive of a scene: a box rotated about y (half extents), a sphere (radius = Size.X) or a vertical cylinder
/// (radius = Size.X, half height = Size.Y), with its semantic class, colour and surface pattern.
/// </summary>
internal sealed record Primitive(Shape Shape, int Class, V3 Center, V3 Size, double Yaw, V3 Color, Pattern Pattern, double PatternScale);

/// <summary>The result of a ray hit: distance, unit normal (world), class and surface colour.</summary>
internal readonly record struct Hit(double T, V3 Normal, int Class, V3 Albedo);

/// <summary>Ray–primitive intersection.</summary>
internal static class Intersect
{
    public static bool Ray(Primitive p, V3 o, V3 d, double tMax, out double t, out V3 n)
    {
        switch (p.Shape)
        {
            case Shape.Sphere: return Sphere(p, o, d, tMax, out t, out n);
            case Shape.Cylinder: return Cylinder(p, o, d, tMax, out t, out n);
            default: return Box(p, o, d, tMax, out t, out n);
        }
    }

    private static bool Box(Primitive p, V3 o, V3 d, double tMax, out double t, out V3 n)
    {
        // Into the box frame: translate, then rotate by −yaw.
        var lo = (o - p.Center).RotY(-p.Yaw); var ld = d.RotY(-p.Yaw);
        double t0 = 1e-6, t1 = tMax; int axis = -1; double sign = 0;
        for (int a = 0; a < 3; a++)
        {
            double oa = a == 0 ? lo.X : a == 1 ? lo.Y : lo.Z, da = a == 0 ? ld.X : a == 1 ? ld.Y : ld.Z;
            double h = a == 0 ? p.Size.X : a == 1 ? p.Size.Y : p.Size.Z;
            if (Math.Abs(da) < 1e-12) { if (oa < -h || oa > h) { t = 0; n = default; return false; } continue; }
            double ta = (-h - oa) / da, tb = (h - oa) / da;
            if (ta > tb) (ta, tb) = (tb, ta);
            // Entering through the −h face when moving in +a, through +h otherwise.
            if (ta > t0) { t0 = ta; axis = a; sign = da > 0 ? -1 : 1; }
            t1 = Math.Min(t1, tb);
            if (t0 > t1) { t = 0; n = default; return false; }
        }
        if (axis < 0) { t = 0; n = default; return false; }
        t = t0;
        var ln = axis == 0 ? new V3(sign, 0, 0) : axis == 1 ? new V3(0, sign, 0) : new V3(0, 0, sign);
        n = ln.RotY(p.Yaw);
        return true;
    }

    private static bool Sphere(Primitive p, V3 o, V3 d, double tMax, out double t, out V3 n)
    {
        var oc = o - p.Center;
        double b = oc.Dot(d), c = oc.Dot(oc) - p.Size.X * p.Size.X, disc = b * b - c;
        t = 0; n = default;
        if (disc < 0) return false;
        double s = Math.Sqrt(disc), t0 = -b - s;
        if (t0 <= 1e-6 || t0 >= tMax) return false;
        t = t0; n = (o + d * t - p.Center).Normalized();
        return true;
    }

    private static bool Cylinder(Primitive p, V3 o, V3 d, double tMax, out double t, out V3 n)
    {
        double r = p.Size.X, hh = p.Size.Y;
        var oc = o - p.Center;
        t = tMax; n = default; bool hit = false;
        double a = d.X * d.X + d.Z * d.Z, b = oc.X * d.X + oc.Z * d.Z, c = oc.X * oc.X + oc.Z * oc.Z - r * r;
        if (a > 1e-12)
        {
            double disc = b * b - a * c;
            if (disc >= 0)
            {
                double ts = (-b - Math.Sqrt(disc)) / a;
                double y = oc.Y + d.Y * ts;
                if (ts > 1e-6 && ts < t && Math.Abs(y) <= hh) { t = ts; n = new V3(oc.X + d.X * ts, 0, oc.Z + d.Z * ts).Normalized(); hit = true; }
            }
        }
        if (Math.Abs(d.Y) > 1e-12)
            foreach (var cap in new[] { hh, -hh })
            {
                double tc = (cap - oc.Y) / d.Y;
                if (tc <= 1e-6 || tc >= t) continue;
                double x = oc.X + d.X * tc, z = oc.Z + d.Z * tc;
                if (x * x + z * z <= r * r) { t = tc; n = new V3(0, Math.Sign(cap), 0); hit = true; }
            }
        return hit;
    }
}
