namespace PiSa.Tests.Text;

/// <summary>
/// Hand-made prompts and the ids transformers 4.28's slow CLIPTokenizer (no ftfy) gives them with the
/// fixture's real CLIP vocabulary (bos/eos/padding excluded; long prompts already cut to 75 ids).
/// The ids were produced offline by an independent Python re-statement of that tokenizer (Python's
/// unicodedata and the `regex` module for \p{L}/\p{N}), which reproduces the three fixture prompts of
/// text.safetensors and the published SD2 "! !! !!!" case; they are not derived from this C# code.
/// </summary>
internal static class ClipTokenizerCases
{
    public static readonly TheoryData<string, int[]> Cases = new()
    {
        { "Hello, World!", new int[] { 3306, 267, 1002, 0 } },
        { "It's a dog's life; don't stop, we'll see what you've done.", new int[] { 585, 262, 338, 320, 1929, 262, 338, 970, 282, 847, 262, 339, 1691, 267, 649, 262, 865, 862, 768, 592, 262, 563, 1700, 269 } },
        { "r\u00e9sum\u00e9 na\u00efve caf\u00e9 \u00c5ngstr\u00f6m", new int[] { 15077, 43362, 4979, 883, 14707 } },
        { "cafe\u0301 vs caf\u00e9", new int[] { 4979, 1547, 4979 } },
        { "\u6771\u4eac\u30bf\u30ef\u30fc \u5317\u4eac \u4e2d\u6587\u5b57\u7b26", new int[] { 27667, 365, 21078, 361, 34941, 2429, 107, 30391, 161, 234, 501, 21078, 361, 19759, 511, 29032, 485, 35751, 501, 163, 105, 355 } },
        { "a cat \U0001f431 with \U0001f44d\U0001f3fd and \u2764\ufe0f emoji \U0001f468\u200d\U0001f469\u200d\U0001f467", new int[] { 320, 2368, 22979, 593, 43722, 537, 2720, 16327, 18966, 18800, 964, 356 } },
        { "multiple   spaces\u000a\u000anew\u0009lines\u000d\u000a end  ", new int[] { 6470, 9006, 686, 3418, 806 } },
        { "digits 12345 and 3.14159, 1,000,000", new int[] { 31710, 272, 273, 274, 275, 276, 537, 274, 269, 272, 275, 272, 276, 280, 267, 272, 267, 271, 271, 271, 267, 271, 271, 271 } },
        { "\u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u0399\u0391 \u03c3\u03bf\u03c6\u03af\u03b1\u03c2 \u039f\u0394\u039f\u03a3.", new int[] { 138, 123, 138, 112, 138, 123, 139, 480, 139, 225, 138, 123, 139, 228, 138, 117, 138, 365, 139, 225, 138, 123, 139, 228, 138, 117, 138, 109, 139, 480, 138, 123, 138, 112, 138, 123, 139, 480, 269 } },
        { "\u0130stanbul \ufb01ne stra\u00dfe", new int[] { 12258, 171, 105, 223, 1422, 1894, 127, 253, 324 } },
        { "\uff28\uff45\uff4c\uff4c\uff4f\u3000\uff57\uff4f\uff52\uff4c\uff44 \uff26\uff35\uff2c\uff2c", new int[] { 171, 121, 230, 171, 121, 227, 171, 121, 234, 171, 121, 234, 171, 121, 493, 171, 121, 245, 171, 121, 237, 171, 121, 240, 171, 121, 234, 171, 121, 482, 171, 121, 228, 171, 121, 243, 171, 121, 234, 171, 121, 490 } },
        { "<|startoftext|>inside<|endoftext|> tokens", new int[] { 49406, 2912, 49407, 23562 } },
        { "Wow!!! really?! ...and\u2026 end!", new int[] { 2781, 0, 0, 0, 1414, 286, 0, 269, 269, 269, 537, 959, 806, 0 } },
        { "hyphen-ated_words/slashes\\back and $5 + 3 = 8 ~ ^ | ` @ # % & * ( ) [ ] { } < > \"quoted\"", new int[] { 1441, 745, 576, 268, 943, 318, 2709, 270, 2725, 2502, 315, 893, 537, 259, 276, 266, 274, 284, 279, 349, 317, 347, 319, 287, 258, 260, 261, 265, 263, 264, 314, 316, 346, 348, 283, 285, 257, 27706, 257 } },
        { "zero\u200bwidth\u200djoiner and soft\u00adhyphen", new int[] { 14867, 11886, 513, 683, 5155, 537, 1571, 7804, 745, 576 } },
        { "\U0001d401\U0001d428\U0001d425\U0001d41d math \U0001d7d9\U0001d7da letters", new int[] { 15889, 223, 15889, 101, 15889, 98, 15889, 507, 6025, 6874, 253, 503, 6874, 253, 504, 9181 } },
        { "Hindi \u0939\u093f\u0928\u094d\u0926\u0940 and Arabic \u0627\u0644\u0639\u0631\u0628\u064a\u0629 and Korean \ud55c\uad6d\uc5b4", new int[] { 14967, 29446, 26721, 3124, 101, 29552, 25751, 537, 16709, 12973, 18843, 10948, 16378, 12046, 20915, 537, 8034, 157, 226, 240, 157, 227, 94, 157, 228, 104, 157, 226, 222, 157, 227, 106, 157, 228, 101, 157, 226, 233, 157, 227, 354 } },
        { "line\u2028sep para\u2029sep", new int[] { 1148, 10434, 8976, 10434 } },
        { "C'est l'\u00e9t\u00e9 \u00e0 Paris \u2014 \u00abquelle\u00bb chaleur!", new int[] { 322, 262, 1509, 331, 262, 40245, 320, 3445, 2005, 14434, 666, 4765, 7599, 540, 1440, 1775, 0 } },
        { "a\u0000b\ufffdc\u0007d", new int[] { 596, 4480 } },
        { "   ", new int[] {  } },
        { "A PHOTO OF A CAT, HIGH QUALITY", new int[] { 320, 1125, 539, 320, 2368, 267, 1400, 3027 } },
        { "masterpiece, best quality, ultra-detailed 8k photo of a red fox in snow, bokeh, (sharp:1.2)", new int[] { 12066, 267, 949, 3027, 267, 8118, 268, 12609, 279, 330, 1125, 539, 320, 736, 3240, 530, 2583, 267, 647, 36983, 267, 263, 8157, 281, 272, 269, 273, 264 } },
        { "5\u20ac or \u00a33 \u00d7 2 \u00f7 4 \u2248 \u221e \u00b0C \u00a9\u00ae\u2122", new int[] { 276, 6309, 541, 1950, 274, 16165, 273, 127, 371, 275, 45451, 17788, 508, 6858, 322, 31148, 30857, 11675 } },
        { "word0 word1 word2 word3 word4 word5 word6 word7 word8 word9 word10 word11 word12 word13 word14 word15 word16 word17 word18 word19 word20 word21 word22 word23 word24 word25 word26 word27 word28 word29 word30 word31 word32 word33 word34 word35 word36 word37 word38 word39 word40 word41 word42 word43 word44 word45 word46 word47 word48 word49 word50 word51 word52 word53 word54 word55 word56 word57 word58 word59", new int[] { 2653, 271, 2653, 272, 2653, 273, 2653, 274, 2653, 275, 2653, 276, 2653, 277, 2653, 278, 2653, 279, 2653, 280, 2653, 272, 271, 2653, 272, 272, 2653, 272, 273, 2653, 272, 274, 2653, 272, 275, 2653, 272, 276, 2653, 272, 277, 2653, 272, 278, 2653, 272, 279, 2653, 272, 280, 2653, 273, 271, 2653, 273, 272, 2653, 273, 273, 2653, 273, 274, 2653, 273, 275, 2653, 273, 276, 2653, 273, 277, 2653, 273, 278, 2653 } },
        { "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis", new int[] { 1642, 2857, 13093, 2076, 5868, 26850, 835, 639, 38466, 3120, 4262, 7726, 12658, 1585, 44351, 28714, 749, 20253, 9800, 535, 532, 1065, 901, 1556, 13697, 9916, 78, 39031, 13903 } },
    };
}
