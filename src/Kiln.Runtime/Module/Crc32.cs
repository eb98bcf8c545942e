namespace Kiln.Runtime.Format;

/// <summary>CRC-32 (IEEE, reflected, polynomial 0xEDB88320), bitwise: metadata is small, and a table would be static state.</summary>
public static class Crc32
{
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320 & (uint)-(int)(crc & 1));
        }
        return ~crc;
    }
}
