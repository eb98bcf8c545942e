using System.Runtime.Intrinsics.X86;

namespace Kiln.Runtime;

/// <summary>CPU features a module may require (a bit set stored in the module header).</summary>
[Flags]
public enum CpuFeatures : ulong
{
    None = 0,
    Sse41 = 1 << 0,
    Avx = 1 << 1,
    Avx2 = 1 << 2,
    Fma = 1 << 3,
    Avx512F = 1 << 4,
    Avx512BW = 1 << 5,
    Avx512VL = 1 << 6,
    AdvSimd = 1 << 7,
}

public static class CpuFeatureDetection
{
    /// <summary>The features of the machine this process runs on.</summary>
    public static CpuFeatures Current
    {
        get
        {
            var f = CpuFeatures.None;
            if (Sse41.IsSupported) f |= CpuFeatures.Sse41;
            if (Avx.IsSupported) f |= CpuFeatures.Avx;
            if (Avx2.IsSupported) f |= CpuFeatures.Avx2;
            if (Fma.IsSupported) f |= CpuFeatures.Fma;
            if (Avx512F.IsSupported) f |= CpuFeatures.Avx512F;
            if (Avx512BW.IsSupported) f |= CpuFeatures.Avx512BW;
            if (Avx512F.VL.IsSupported) f |= CpuFeatures.Avx512VL;
            if (System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported) f |= CpuFeatures.AdvSimd;
            return f;
        }
    }
}
