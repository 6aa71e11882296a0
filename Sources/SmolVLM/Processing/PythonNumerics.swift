// Python's float arithmetic where SmolVLM's reference code relies on it: `round` (half to even), `//` and `%` on
// floats (floor division with the sign of the divisor), numpy's `linspace`. Written from the CPython / numpy
// semantics so sampled frame indices and timestamps match the reference bit for bit.

import Foundation

/// Python numeric semantics needed by the SmolVLM processors.
enum PythonNumerics {
    /// `round(x)` for a float: nearest integer, ties to even.
    static func round(_ x: Double) -> Double {
        x.rounded(.toNearestOrEven)
    }

    /// `(x // y, x % y)` for floats, as CPython's `float_divmod` computes them.
    static func divmod(_ x: Double, _ y: Double) -> (quotient: Double, remainder: Double) {
        var mod = fmod(x, y)
        var div = (x - mod) / y
        if mod != 0 {
            if (y < 0) != (mod < 0) {
                mod += y
                div -= 1
            }
        } else {
            mod = copysign(0, y)
        }
        var floorDiv: Double
        if div != 0 {
            floorDiv = floor(div)
            if div - floorDiv > 0.5 { floorDiv += 1 }
        } else {
            floorDiv = copysign(0, x / y)
        }
        return (floorDiv, mod)
    }

    /// `np.linspace(start, stop, num)` (endpoint included) in float64.
    static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        guard num > 0 else { return [] }
        let div = num - 1
        let delta = stop - start
        var values = [Double](repeating: 0, count: num)
        if div > 0 {
            let step = delta / Double(div)
            for i in 0..<num {
                // numpy: y = arange(num) * step (or / div * delta when step is 0), then + start.
                let y = step == 0 ? Double(i) / Double(div) * delta : Double(i) * step
                values[i] = y + start
            }
            values[num - 1] = stop
        } else {
            values[0] = 0 * delta + start
        }
        return values
    }
}
