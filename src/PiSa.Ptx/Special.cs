namespace PiSa.Ptx;

/// <summary>
/// Special registers live in fixed slots at the start of every thread's register frame, filled when the thread
/// starts, so reading %tid.x costs what reading %r1 does.
/// </summary>
internal static class Special
{
    public const int TidX = 0, TidY = 1, TidZ = 2, NtidX = 3, NtidY = 4, NtidZ = 5, CtaidX = 6, CtaidY = 7, CtaidZ = 8,
        NctaidX = 9, NctaidY = 10, NctaidZ = 11, LaneId = 12, WarpId = 13, NWarpId = 14, LanemaskEq = 15,
        LanemaskLt = 16, LanemaskLe = 17, LanemaskGt = 18, LanemaskGe = 19, DynSmem = 20, TotalSmem = 21, Zero = 22,
        Count = 23;

    public static int? Slot(string name) => name switch
    {
        "%tid.x" => TidX, "%tid.y" => TidY, "%tid.z" => TidZ,
        "%ntid.x" => NtidX, "%ntid.y" => NtidY, "%ntid.z" => NtidZ,
        "%ctaid.x" => CtaidX, "%ctaid.y" => CtaidY, "%ctaid.z" => CtaidZ,
        "%nctaid.x" => NctaidX, "%nctaid.y" => NctaidY, "%nctaid.z" => NctaidZ,
        "%laneid" => LaneId, "%warpid" => WarpId, "%nwarpid" => NWarpId,
        "%lanemask_eq" => LanemaskEq, "%lanemask_lt" => LanemaskLt, "%lanemask_le" => LanemaskLe,
        "%lanemask_gt" => LanemaskGt, "%lanemask_ge" => LanemaskGe,
        "%dynamic_smem_size" => DynSmem, "%total_smem_size" => TotalSmem,
        // SM/grid identity and clocks carry no meaning here; they read as 0
        "%smid" or "%nsmid" or "%gridid" or "%clock" or "%clock64" or "%globaltimer" => Zero,
        _ => null,
    };
}
