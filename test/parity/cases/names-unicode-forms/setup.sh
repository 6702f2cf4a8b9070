# Names that differ only by Unicode normalization (NFC é, NFD e + U+0301), a Hangul syllable and
# its jamo, full-width and ligature forms, right-to-left text, a name of spaces only, dots only,
# a carriage return, a trailing space, an emoji with a zero-width joiner and a variation
# selector, and directories named so, one a symlink target.
mkdir -p "$(printf 'caf\303\251')" "$(printf 'cafe\314\201')"
echo nfc > "$(printf 'caf\303\251')/$(printf 'r\303\251sum\303\251').txt"
echo nfd > "$(printf 'cafe\314\201')/$(printf 're\314\201sume\314\201').txt"
echo syllable > "$(printf '\355\225\234')"
echo jamo > "$(printf '\341\204\222\341\205\241\341\206\253')"
echo fullwidth > "$(printf '\357\274\241\357\274\242\357\274\243')"
echo ligature > "$(printf '\357\254\201le')"
echo rtl > "$(printf '\327\251\327\234\327\225\327\235.txt')"
echo spaces > "   "
echo dots > "..."
echo cr > "$(printf 'carriage\rreturn')"
echo trailing > "trailing "
echo family > "$(printf '\360\237\221\250\342\200\215\360\237\221\251\342\200\215\360\237\221\247')"
echo heart > "$(printf '\342\235\244\357\270\217')"
ln -s "$(printf 'cafe\314\201')" link-to-nfd
