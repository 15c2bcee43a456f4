"""Small ray tracer: vector class with operator overloading, shapes as objects, shadows, reflection."""

import math


class Vec:
    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

    def __add__(self, o):
        return Vec(self.x + o.x, self.y + o.y, self.z + o.z)

    def __sub__(self, o):
        return Vec(self.x - o.x, self.y - o.y, self.z - o.z)

    def __mul__(self, k):
        return Vec(self.x * k, self.y * k, self.z * k)

    def dot(self, o):
        return self.x * o.x + self.y * o.y + self.z * o.z

    def length(self):
        return math.sqrt(self.dot(self))

    def unit(self):
        return self * (1.0 / self.length())

    def hadamard(self, o):
        return Vec(self.x * o.x, self.y * o.y, self.z * o.z)


class Ray:
    __slots__ = ("origin", "direction")

    def __init__(self, origin, direction):
        self.origin = origin
        self.direction = direction

    def at(self, t):
        return self.origin + self.direction * t


class Material:
    def __init__(self, color, diffuse, mirror):
        self.color = color
        self.diffuse = diffuse
        self.mirror = mirror


class Sphere:
    def __init__(self, centre, radius, material):
        self.centre = centre
        self.radius = radius
        self.material = material

    def hit(self, ray):
        oc = ray.origin - self.centre
        b = oc.dot(ray.direction)
        c = oc.dot(oc) - self.radius * self.radius
        disc = b * b - c
        if disc < 0.0:
            return None
        root = math.sqrt(disc)
        t = -b - root
        if t > 1e-6:
            return t
        t = -b + root
        if t > 1e-6:
            return t
        return None

    def normal(self, point):
        return (point - self.centre).unit()


class Floor:
    """The plane y = height, with a checker pattern."""

    def __init__(self, height, a, b):
        self.height = height
        self.a = a
        self.b = b

    def hit(self, ray):
        dy = ray.direction.y
        if -1e-9 < dy < 1e-9:
            return None
        t = (self.height - ray.origin.y) / dy
        return t if t > 1e-6 else None

    def normal(self, point):
        return Vec(0.0, 1.0, 0.0)

    def material_at(self, point):
        if (math.floor(point.x) + math.floor(point.z)) % 2 == 0:
            return self.a
        return self.b


class Scene:
    def __init__(self):
        self.objects = []
        self.lights = []
        self.ambient = 0.1
        self.sky = Vec(0.5, 0.7, 1.0)

    def nearest(self, ray):
        best_t = 1e30
        best = None
        for obj in self.objects:
            t = obj.hit(ray)
            if t is not None and t < best_t:
                best_t = t
                best = obj
        return best, best_t

    def shadowed(self, point, to_light, distance):
        ray = Ray(point, to_light)
        for obj in self.objects:
            t = obj.hit(ray)
            if t is not None and t < distance:
                return True
        return False

    def trace(self, ray, depth):
        obj, t = self.nearest(ray)
        if obj is None:
            return self.sky * (0.5 + 0.5 * ray.direction.y)
        point = ray.at(t)
        normal = obj.normal(point)
        mat = obj.material_at(point) if isinstance(obj, Floor) else obj.material
        light_sum = self.ambient
        for lpos, power in self.lights:
            to_light = lpos - point
            dist = to_light.length()
            to_light = to_light * (1.0 / dist)
            lambert = normal.dot(to_light)
            if lambert > 0.0 and not self.shadowed(point, to_light, dist):
                light_sum += lambert * power * mat.diffuse
        color = mat.color * light_sum
        if mat.mirror > 0.0 and depth < 3:
            d = ray.direction
            reflected = d - normal * (2.0 * d.dot(normal))
            color = color * (1.0 - mat.mirror) + self.trace(Ray(point, reflected), depth + 1) * mat.mirror
        return color


def build_scene():
    s = Scene()
    red = Material(Vec(0.9, 0.2, 0.2), 0.9, 0.2)
    glass = Material(Vec(0.8, 0.8, 0.9), 0.5, 0.6)
    green = Material(Vec(0.2, 0.8, 0.3), 0.9, 0.0)
    white = Material(Vec(0.9, 0.9, 0.9), 0.8, 0.1)
    black = Material(Vec(0.1, 0.1, 0.1), 0.8, 0.1)
    s.objects.append(Sphere(Vec(0.0, 1.0, 6.0), 1.0, red))
    s.objects.append(Sphere(Vec(-2.2, 0.7, 7.5), 0.7, glass))
    s.objects.append(Sphere(Vec(2.0, 0.5, 5.0), 0.5, green))
    s.objects.append(Sphere(Vec(0.8, 2.6, 8.5), 0.9, glass))
    s.objects.append(Floor(0.0, white, black))
    s.lights.append((Vec(-4.0, 6.0, 1.0), 0.7))
    s.lights.append((Vec(5.0, 4.0, 3.0), 0.4))
    return s


def run(scale):
    side = max(6, int(174 * math.sqrt(scale)))
    scene = build_scene()
    eye = Vec(0.0, 1.5, 0.0)
    total = 0
    digest = 0
    for py in range(side):
        for px in range(side):
            x = (px + 0.5) / side * 2.0 - 1.0
            y = 1.0 - (py + 0.5) / side * 2.0
            d = Vec(x, y * 0.8, 1.6).unit()
            c = scene.trace(Ray(eye, d), 0)
            r = min(255, int(c.x * 255.0))
            g = min(255, int(c.y * 255.0))
            b = min(255, int(c.z * 255.0))
            total += r + g + b
            digest = (digest * 257 + r * 65536 + g * 256 + b) % 1000000007
    return [side, total, digest]
