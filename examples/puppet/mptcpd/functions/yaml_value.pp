# @summary Writes a value of mptcpd.yaml as YAML: numbers and booleans as
#   they are, strings single-quoted (so that no string changes meaning, as
#   "no" or "0x10" would unquoted), arrays as flow sequences.
# @param value
#   An Integer, Boolean, String or Array of those.
# @return [String] the YAML text.
function mptcpd::yaml_value(Data $value) >> String {
  $value ? {
    Undef   => 'null',
    Numeric => String($value),
    Boolean => String($value),
    String  => "'${regsubst($value, "'", "''", 'G')}'",
    Array   => "[${value.map |$v| { mptcpd::yaml_value($v) }.join(', ')}]",
    default => fail("mptcpd: a value in mptcpd.yaml cannot be a ${type($value, 'generalized')}"),
  }
}
