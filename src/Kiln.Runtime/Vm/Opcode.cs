namespace Kiln.Runtime.Vm;

/// <summary>
/// VM instructions. Code is a byte stream: an opcode byte, then its operands, little-endian:
/// r = u16 register index (value bank for arithmetic, object bank for *Ref), i = i64 immediate,
/// u = u32 index or offset, s = string (u32 offset, u32 length in the Strings section),
/// list = u8 count + that many r. Branch targets are offsets from the function's first byte.
/// <code>
/// Nop                                  Fail s                       Return list(values) list(refs)
/// Call u list list -> list list        CallImport u list list -> list list
/// Branch u                             BranchIf r u                 BranchUnless r u
/// Assert r s                           (fails with the message when r == 0)
/// ConstI64 r i     Move r r            MoveRef r r                  ClearRef r
/// GlobalLoad r u   GlobalStore u r     GlobalLoadRef r u            GlobalStoreRef u r
/// Add..ShrS r r r  (dst, a, b)         Select r r r r (dst, cond, a, b)   IsNull r r (dst, ref)
/// </code>
/// Arithmetic is checked: overflow and division by zero fail the invocation with a clear error.
/// </summary>
public enum Opcode : byte
{
    Nop = 0x00,
    Fail = 0x01,
    Return = 0x02,
    Call = 0x03,
    CallImport = 0x04,
    Branch = 0x05,
    BranchIf = 0x06,
    BranchUnless = 0x07,
    Assert = 0x08,

    ConstI64 = 0x10,
    Move = 0x11,
    MoveRef = 0x12,
    ClearRef = 0x13,
    GlobalLoad = 0x14,
    GlobalStore = 0x15,
    GlobalLoadRef = 0x16,
    GlobalStoreRef = 0x17,

    Add = 0x20,
    Sub = 0x21,
    Mul = 0x22,
    DivFloor = 0x23,
    DivCeil = 0x24,
    ModFloor = 0x25,
    Min = 0x26,
    Max = 0x27,
    Eq = 0x28,
    Ne = 0x29,
    Lt = 0x2A,
    Le = 0x2B,
    And = 0x2C,
    Or = 0x2D,
    Xor = 0x2E,
    Shl = 0x2F,
    ShrS = 0x30,

    Select = 0x40,
    IsNull = 0x41,
}

public static class Opcodes
{
    public static bool IsBinary(Opcode op) => op is >= Opcode.Add and <= Opcode.ShrS;

    /// <summary>Instructions after which control never falls through to the next one.</summary>
    public static bool IsTerminator(Opcode op) => op is Opcode.Return or Opcode.Fail or Opcode.Branch;
}
